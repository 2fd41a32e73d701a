/** Test corpora for redaction: personal data with its masked form, and ordinary text. */

/** Personal data and secrets, with what each must become. */
export const personalCorpus: ReadonlyArray<readonly [input: string, expected: string]> = [
  ["mail alice.smith+tag@example.co.uk now", "mail [EMAIL] now"],
  ["from Bob.O'Neil@mail.example.org", "from Bob.O'[EMAIL]"],
  ["Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig123", "Authorization: [REDACTED]"],
  ["sent Bearer abc123def456ghi to upstream", "sent Bearer [TOKEN] to upstream"],
  ["basic auth Basic dXNlcjpwYXNzd29yZA==", "basic auth Basic [TOKEN]"],
  ["jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N", "jwt [TOKEN]"],
  ["GET /search?q=x&api_key=abcd1234efgh&page=2", "GET /search?q=x&api_key=[REDACTED]&page=2"],
  ["login password=hunter2 ok", "login password=[REDACTED] ok"],
  ['{"Password": "s3cr3t!", "user": "bob"}', '{"Password": "[REDACTED]", "user": "bob"}'],
  ["openai sk-proj-abcdefghijklmnop1234 used", "openai [TOKEN] used"],
  ["stripe sk_live_51HxyzABCDEFGHIJKLMNOP", "stripe [TOKEN]"],
  ["github ghp_abcdefghijklmnopqrstuvwxyz0123456789", "github [TOKEN]"],
  ["aws AKIAIOSFODNN7EXAMPLE key", "aws [TOKEN] key"],
  ["slack xoxb-1234567890-abcdefghij", "slack [TOKEN]"],
  ["secret a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8", "secret [TOKEN]"],
  ["user 123e4567-e89b-12d3-a456-426614174000 logged in", "user [UUID] logged in"],
  ["card 4111 1111 1111 1111 declined", "card [CARD] declined"],
  ["card 5555-5555-5555-4444", "card [CARD]"],
  ["amex 378282246310005", "amex [CARD]"],
  // Connection strings: the password in the URL's userinfo, whatever the host looks like.
  [
    "db postgres://app:Sup3rS3cret@localhost:5432/orders down",
    "db postgres://app:[REDACTED]@localhost:5432/orders down",
  ],
  ["redis://:s3cretpass@127.0.0.1:6379/0", "redis://:[REDACTED]@127.0.0.1:6379/0"],
  ["amqp://guest:guest@rabbit:5672/", "amqp://guest:[REDACTED]@rabbit:5672/"],
  [
    "mongodb+srv://admin:p@ss@cluster0.example.net/test",
    "mongodb+srv://admin:[REDACTED]@cluster0.example.net/test",
  ],
  // Quoted key/value pairs (Python reprs, YAML, JSON with spaces in the value).
  ["{'password': 'hunter two', 'user': 'bob'}", "{'password': '[REDACTED]', 'user': 'bob'}"],
  ['{"client_secret": "a b c", "n": 1}', '{"client_secret": "[REDACTED]", "n": 1}'],
  // Private keys: the whole PEM block, even when its end was cut off.
  [
    "key -----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA1c7+9z5Pad7Oejecs\nQ0bu\n-----END RSA PRIVATE KEY----- loaded",
    "key [REDACTED] loaded",
  ],
  ["-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nNhAAAAAwEAAQ", "[REDACTED]"],
  // More token formats.
  ["aws sts ASIAY34FZKBOKMUTVV7A key", "aws sts [TOKEN] key"],
  ["gitlab glpat-a1B2c3D4e5F6g7H8i9J0 ok", "gitlab [TOKEN] ok"],
  ["npm npm_a1B2c3D4e5F6g7H8i9J0a1B2c3D4e5F6g7H8 ok", "npm [TOKEN] ok"],
  ["slack xapp-1-A0123456789-1234567890123 ok", "slack [TOKEN] ok"],
  [
    "hook https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX sent",
    "hook https://[TOKEN] sent",
  ],
  ["hf hf_abcdefghijklmnopqrstuvwxyz01234567 ok", "hf [TOKEN] ok"],
  ["aws secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "aws secret [TOKEN]"],
  ["from a@b.io with a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8 then", "from [EMAIL] with [TOKEN] then"],
]

/** Ordinary text that must pass through unchanged. */
export const ordinaryCorpus: ReadonlyArray<string> = [
  "Stage kb_access completed in 12.5 ms for 3 documents",
  "request chat finished with status ok after 1523 ms",
  "token validation failed; basic authentication required",
  "the bearer of good news arrived at 10:30:00",
  "model gpt-4o produced 512 tokens at temperature 0.7",
  "retrying after 503 Service Unavailable (attempt 2 of 5)",
  "order 4111111111111112 failed the checksum so it stays",
  "timestamp 1732444200000 is epoch millis",
  "version 1.2.3-beta.4 released on 2026-11-24",
  "kebab-case-identifiers-and-snake_case_identifiers_are_fine",
  "internationalization and localization are long words",
  "span 00f067aa0ba902b7 belongs to the request",
  "std::vector<int> is C++, not an address",
  "Über naïve café — unicode passes through",
  "GET https://example.com:8443/path?page=2 and ftp://ftp.example.com/pub",
  "redis://cache:6379/0 is up; see http://user@example/ for the user page",
  "the key is -----BEGIN PUBLIC KEY----- which is public",
  "password reset e-mail sent; token expired; secret santa list ready",
  "",
  "ok",
]
