"""Generate (or check) the gRPC code in clients/python/aihubd_api/ and clients/node/src/gen/ from protos/.

protos/aihubd/v1/x.proto becomes aihubd_api/v1/x_pb2.py (+ _pb2_grpc.py, .pyi): protoc sees the
protos under the virtual root ``aihubd_api/`` so the generated imports name ``aihubd_api`` and
never collide with the daemon's own ``aihubd`` package.

The same protoc (grpc_tools') runs the pinned ts-proto plugin from clients/node/node_modules
(``make node-install``): protos/aihubd/v1/x.proto becomes clients/node/src/gen/aihubd/v1/x.ts,
messages plus @grpc/grpc-js service definitions.
"""

from __future__ import annotations

import argparse
import filecmp
import importlib.util
import shutil
import sys
import tempfile
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos" / "aihubd"
PACKAGE = "aihubd_api"
INIT_TEXT = '"""Generated from protos/ by `make proto`; do not edit."""\n'
NODE_DIR = ROOT / "clients" / "node"
TS_GEN = Path("src") / "gen"  # inside NODE_DIR
# ts-proto options: grpc-js service definitions and clients; ESM imports with .js suffixes (Node's
# resolver); Timestamps as Date; int64 as number (throws beyond 2**53, far above any size here).
TS_PROTO_OPTIONS = ",".join(
    [
        "outputServices=grpc-js",
        "esModuleInterop=true",
        "importSuffix=.js",
        "env=node",
        "useDate=true",
        "forceLong=number",
        "useOptionals=none",
    ]
)


def _plugin(name: str) -> Path:
    """The protoc plugin ``name`` installed beside this interpreter (mypy-protobuf's, in the dev extra)."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        sys.exit(f"protoc plugin {name} not found beside {sys.executable}; run `make install`")
    return path


def generate(out_root: Path) -> None:
    """Write the generated package ``aihubd_api`` under ``out_root``."""
    protos = sorted(PROTO_ROOT.rglob("*.proto"))
    if not protos:
        sys.exit(f"no .proto files under {PROTO_ROOT}")
    well_known = resources.files("grpc_tools") / "_proto"
    args = [
        "grpc_tools.protoc",
        f"--proto_path={PACKAGE}={PROTO_ROOT}",
        f"--proto_path={well_known}",
        f"--python_out={out_root}",
        f"--plugin=protoc-gen-mypy={_plugin('protoc-gen-mypy')}",
        f"--mypy_out={out_root}",
        f"--grpc_python_out={out_root}",
        # Typed stubs of the service code (aihubd_pb2_grpc.pyi), so mypy --strict sees the servicers.
        f"--plugin=protoc-gen-mypy_grpc={_plugin('protoc-gen-mypy_grpc')}",
        f"--mypy_grpc_out={out_root}",
        *(f"{PACKAGE}/{p.relative_to(PROTO_ROOT).as_posix()}" for p in protos),
    ]
    if protoc.main(args) != 0:
        sys.exit("protoc failed")
    pkg = out_root / PACKAGE
    for directory in [pkg, *(d for d in pkg.rglob("*") if d.is_dir())]:
        (directory / "__init__.py").write_text(INIT_TEXT)
    (pkg / "py.typed").write_text("")


def _ts_proto_plugin() -> Path:
    path = NODE_DIR / "node_modules" / ".bin" / "protoc-gen-ts_proto"
    if not path.exists():
        sys.exit(f"ts-proto not installed in {NODE_DIR.relative_to(ROOT)}; run `make node-install` (needs Node >= 20)")
    return path


# The daemon's error details (google.rpc.Status with ErrorInfo / RetryInfo in grpc-status-details-bin),
# from the .proto files googleapis-common-protos ships (pinned in the dev extra).
def _googleapis_root() -> Path:
    spec = importlib.util.find_spec("google.rpc.status_pb2")
    if spec is None or spec.origin is None:
        sys.exit("googleapis-common-protos is not installed; run `make install`")
    return Path(spec.origin).resolve().parents[2]


GOOGLEAPIS_ROOT = _googleapis_root()
RPC_STATUS_PROTOS = ("google/rpc/status.proto", "google/rpc/error_details.proto")


def generate_typescript(out_dir: Path) -> None:
    """Write the TypeScript messages and grpc-js services for every proto under ``out_dir``."""
    protos = sorted(PROTO_ROOT.parent.rglob("*.proto"))
    out_dir.mkdir(parents=True, exist_ok=True)
    args = [
        "grpc_tools.protoc",
        f"--proto_path={PROTO_ROOT.parent}",
        f"--proto_path={resources.files('grpc_tools') / '_proto'}",
        f"--proto_path={GOOGLEAPIS_ROOT}",
        f"--plugin=protoc-gen-ts_proto={_ts_proto_plugin()}",
        f"--ts_proto_out={out_dir}",
        f"--ts_proto_opt={TS_PROTO_OPTIONS}",
        *(p.relative_to(PROTO_ROOT.parent).as_posix() for p in protos),
        *RPC_STATUS_PROTOS,
    ]
    if protoc.main(args) != 0:
        sys.exit("protoc (ts-proto) failed")


def differences(expected: Path, actual: Path) -> list[str]:
    """Relative paths that differ between two generated trees."""
    found: list[str] = []
    names = {p.relative_to(expected) for p in expected.rglob("*") if p.is_file()}
    names |= {p.relative_to(actual) for p in actual.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    for name in sorted(names):
        a, b = expected / name, actual / name
        if not (a.is_file() and b.is_file() and filecmp.cmp(a, b, shallow=False)):
            found.append(str(name))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "clients" / "python")
    parser.add_argument("--ts-out", type=Path, default=NODE_DIR / TS_GEN, help="TypeScript output directory")
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    opts = parser.parse_args()
    opts.out = opts.out.resolve()
    opts.ts_out = opts.ts_out.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "py").mkdir()
        generate(Path(tmp) / "py")
        generate_typescript(Path(tmp) / "ts")
        trees = [(Path(tmp) / "py" / PACKAGE, opts.out / PACKAGE), (Path(tmp) / "ts", opts.ts_out)]
        if opts.check:
            stale = [
                f"{committed}/{name}"
                for fresh, committed in trees
                for name in (differences(fresh, committed) if committed.exists() else ["(missing)"])
            ]
            if stale:
                print("generated gRPC code is stale; run `make proto`:", *stale, sep="\n  ")
                return 1
            print("generated gRPC code is up to date")
            return 0
        for fresh, committed in trees:
            shutil.rmtree(committed, ignore_errors=True)
            shutil.copytree(fresh, committed)
            print(f"wrote {committed.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
