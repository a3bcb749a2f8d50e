/**
 * Where the daemon listens: the same rule as the Python client (clients/python/aihubd_client/socket_path.py),
 * which uses platformdirs' user runtime directory. tests/node/test_socket_path_agrees.py runs both
 * side by side over the cases below.
 *
 * 1. `$AIHUBD_SOCKET` when set: `~` expanded, made absolute against the working directory.
 * 2. `$XDG_RUNTIME_DIR/aihubd/aihubd.sock` when that variable is an absolute path to a directory
 *    the user owns with mode 0700 (or one that does not exist yet), below parents only root or the
 *    user own and no one else can write to (sticky directories such as /tmp excepted).
 * 3. `/run/user/<uid>/aihubd/aihubd.sock` when that directory exists and passes the same checks.
 * 4. `<tmp>/runtime-<uid>/aihubd/aihubd.sock`, `<tmp>` being the first writable of `$TMPDIR`,
 *    `$TEMP`, `$TMP`, /tmp, /var/tmp, /usr/tmp; an error when it (or its parents) is not safe.
 */

import { accessSync, constants, lstatSync, readlinkSync, statSync, type Stats } from "node:fs";
import { homedir } from "node:os";
import { isAbsolute, resolve } from "node:path";

export const SOCKET_ENV = "AIHUBD_SOCKET";
export const SOCKET_NAME = "aihubd.sock";
export const APP_NAME = "aihubd";

const PRIVATE_MODE = 0o700;
const GROUP_OR_OTHER_WRITABLE = 0o022;
const OTHER_WRITABLE = 0o002;
const STICKY = 0o1000;
const MAX_LINKS = 40;

type Env = Record<string, string | undefined>;

/** The socket path clients use when none is given. Throws when only an unsafe fallback is left. */
export function defaultSocketPath(env: Env = process.env): string {
  const override = env[SOCKET_ENV];
  if (override) {
    return normalize(absolute(expandUser(override, env)));
  }
  return normalize(`${userRuntimeDir(env)}/${APP_NAME}/${SOCKET_NAME}`);
}

function userRuntimeDir(env: Env): string {
  const xdg = env.XDG_RUNTIME_DIR ?? "";
  if (xdg.startsWith("/") && xdgProblem(xdg) === undefined) {
    return xdg;
  }
  const platform = `/run/user/${euid()}`;
  if (runtimeDirProblem(platform, false, "private") === undefined && parentProblem(platform, false) === undefined) {
    return platform;
  }
  return tempRuntimeDir(env);
}

function xdgProblem(path: string): string | undefined {
  const parent = parentProblem(path, true);
  if (parent !== undefined) return parent;
  return runtimeDirProblem(path, true, "private");
}

function tempRuntimeDir(env: Env): string {
  const path = `${tempDir(env)}/runtime-${euid()}`;
  const problem = parentProblem(path, false) ?? runtimeDirProblem(path, true, "lookup");
  if (problem !== undefined) {
    throw new Error(`runtime directory ${problem}; set XDG_RUNTIME_DIR instead`);
  }
  return path;
}

/** Python's tempfile.gettempdir(): the first candidate directory a file can be created in. */
function tempDir(env: Env): string {
  const candidates = [env.TMPDIR, env.TEMP, env.TMP, "/tmp", "/var/tmp", "/usr/tmp"];
  for (const candidate of candidates) {
    if (!candidate) continue;
    const dir = resolve(candidate);
    try {
      if (statSync(dir).isDirectory()) {
        accessSync(dir, constants.W_OK);
        return dir;
      }
    } catch {
      // not usable: try the next one
    }
  }
  throw new Error("no safe temporary directory; set XDG_RUNTIME_DIR");
}

function runtimeDirProblem(path: string, missingOk: boolean, check: "private" | "lookup"): string | undefined {
  let info: Stats;
  try {
    info = lstatSync(path);
  } catch (error) {
    if (isMissing(error)) return missingOk ? undefined : `${path} is missing`;
    return `${path} cannot be checked`;
  }
  const mode = info.mode & 0o777;
  if (info.isSymbolicLink()) return `${path} is a symlink`;
  if (!info.isDirectory()) return `${path} is not a directory`;
  if (info.uid !== euid()) return `${path} is owned by uid ${info.uid}, not ${euid()}`;
  if (check === "lookup" && mode & OTHER_WRITABLE) return `${path} has writable mode ${octal(mode)}`;
  if (check === "private" && mode !== PRIVATE_MODE) return `${path} has mode ${octal(mode)}, not 0700`;
  return undefined;
}

/** platformdirs' directory_problem(parent): every component owned by root or the user and not
 * writable by group or others unless sticky; symlinks followed. */
function parentProblem(path: string, missingOk: boolean): string | undefined {
  const parent = dirname(path);
  const owners = new Set([0, euid()]);
  let directory = "/";
  const pending = parent.split("/").filter((part) => part !== "");
  let links = 0;
  try {
    while (pending.length > 0) {
      const entry = join(directory, pending.shift() as string);
      const info = lstatSync(entry);
      if (!owners.has(info.uid)) return `${path} is below ${entry}, owned by uid ${info.uid}`;
      if (info.isSymbolicLink()) {
        links += 1;
        if (links > MAX_LINKS) return `${path} is below ${entry}, which has too many symbolic links`;
        const target = readlinkSync(entry);
        if (target.startsWith("/")) directory = "/";
        pending.unshift(...target.split("/").filter((part) => part !== ""));
        continue;
      }
      if (!info.isDirectory()) return `${path} is below ${entry}, which is not a directory`;
      if (info.mode & GROUP_OR_OTHER_WRITABLE && !(info.mode & STICKY)) {
        return `${path} is below ${entry}, writable by another user`;
      }
      directory = entry;
    }
  } catch (error) {
    if (isMissing(error)) return missingOk ? undefined : `${path} is below a missing directory`;
    return `${path} is below a directory that cannot be checked`;
  }
  return undefined;
}

/** Python's os.path.expanduser for `~` and `~/...` (from $HOME, else the password database). */
function expandUser(path: string, env: Env): string {
  if (path !== "~" && !path.startsWith("~/")) return path;
  const home = env.HOME || homedir();
  return (home.replace(/\/+$/, "") || "/") + path.slice(1);
}

function absolute(path: string): string {
  return isAbsolute(path) ? path : `${process.cwd()}/${path}`;
}

/** pathlib's normalization: repeated slashes and "." parts dropped, ".." kept, no trailing slash
 * (a leading "//" stays, as POSIX allows and pathlib keeps). */
function normalize(path: string): string {
  const root = path.startsWith("//") && !path.startsWith("///") ? "//" : path.startsWith("/") ? "/" : "";
  const parts = path.split("/").filter((part) => part !== "" && part !== ".");
  return root + parts.join("/") || ".";
}

function dirname(path: string): string {
  const trimmed = path.replace(/\/+$/, "");
  const cut = trimmed.lastIndexOf("/");
  return cut <= 0 ? "/" : trimmed.slice(0, cut);
}

function join(directory: string, part: string): string {
  return directory.endsWith("/") ? directory + part : `${directory}/${part}`;
}

function euid(): number {
  return process.geteuid?.() ?? process.getuid?.() ?? 0;
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === "ENOENT";
}

function octal(mode: number): string {
  return `0${mode.toString(8).padStart(3, "0")}`;
}
