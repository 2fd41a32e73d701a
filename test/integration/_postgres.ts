/**
 * A throwaway PostgreSQL server from Debian's `postgresql` package for the integration tests: a fresh
 * cluster in a temp dir (`initdb`, trust authentication), listening on 127.0.0.1 only on a free port, with
 * its Unix socket in the temp dir; stopped by PID and removed when disposed. `initdb` refuses to run as
 * root, so as root (CI) everything runs as Debian's `postgres` user through `runuser`.
 */

/** A running server. */
export interface Postgres extends AsyncDisposable {
  readonly host: string
  readonly port: number
  readonly user: string
  readonly database: string
}

const root = "/usr/lib/postgresql"

/** The `bin` directory of the newest installed PostgreSQL, or `undefined`. */
export const postgresBin = (): string | undefined => {
  let versions: Array<number>
  try {
    versions = [...Deno.readDirSync(root)].map((entry) => Number(entry.name)).filter((v) => v > 0)
  } catch {
    return undefined
  }
  versions.sort((a, b) => b - a)
  for (const version of versions) {
    const bin = `${root}/${version}/bin`
    try {
      Deno.statSync(`${bin}/postgres`)
      Deno.statSync(`${bin}/initdb`)
      return bin
    } catch {
      // not this one
    }
  }
  return undefined
}

const freePort = (): number => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 })
  const port = (listener.addr as Deno.NetAddr).port
  listener.close()
  return port
}

const isRoot = (): boolean => Deno.uid() === 0

/** Runs `args` (as `postgres` when root) and fails with its output when it fails. */
const run = async (args: Array<string>, cwd: string): Promise<void> => {
  const [command, ...rest] = isRoot() ? ["runuser", "-u", "postgres", "--", ...args] : args
  const output = await new Deno.Command(command!, { args: rest, cwd, stdout: "piped", stderr: "piped" })
    .output()
  if (!output.success) {
    const decoder = new TextDecoder()
    throw new Error(
      `${args.join(" ")} failed (${output.code}): ${decoder.decode(output.stderr)}${
        decoder.decode(output.stdout)
      }`,
    )
  }
}

const alive = (pid: number): boolean => {
  try {
    Deno.kill(pid, "SIGCONT")
    return true
  } catch {
    return false
  }
}

/** Starts a server; throws when the binaries are there but it cannot start. */
export const startPostgres = async (bin: string): Promise<Postgres> => {
  const dir = await Deno.makeTempDir({ prefix: "stagetrace-pg-" })
  const data = `${dir}/data`
  if (isRoot()) {
    const chown = await new Deno.Command("chown", { args: ["-R", "postgres:postgres", dir] }).output()
    if (!chown.success) throw new Error(`chown ${dir} failed`)
  }
  let pid: number | undefined
  try {
    await run([`${bin}/initdb`, "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"], dir)
    const port = freePort()
    await run([
      `${bin}/pg_ctl`,
      "start",
      "-w",
      "-t",
      "30",
      "-D",
      data,
      "-l",
      `${dir}/server.log`,
      "-o",
      `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c fsync=off -c full_page_writes=off`,
    ], dir)
    pid = Number((await Deno.readTextFile(`${data}/postmaster.pid`)).split("\n")[0])
    const server = pid
    return {
      host: "127.0.0.1",
      port,
      user: "postgres",
      database: "postgres",
      [Symbol.asyncDispose]: async () => {
        // Fast shutdown, then wait for the postmaster to go.
        try {
          Deno.kill(server, "SIGINT")
        } catch {
          // already gone
        }
        for (let i = 0; i < 200 && alive(server); i++) await new Promise((r) => setTimeout(r, 25))
        if (alive(server)) Deno.kill(server, "SIGKILL")
        await Deno.remove(dir, { recursive: true }).catch(() => {})
      },
    }
  } catch (error) {
    if (pid !== undefined && alive(pid)) Deno.kill(pid, "SIGKILL")
    await Deno.remove(dir, { recursive: true }).catch(() => {})
    throw error
  }
}
