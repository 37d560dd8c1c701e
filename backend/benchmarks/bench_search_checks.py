"""What checking every searched face costs (issue 14: the checks' verdicts keep
refused faces out of training data): ``search_photo`` p50 over LFW probes with and
without the face checks, in process, alternating in rounds (same gallery, same
probes, same run).

  .venv/bin/python backend/benchmarks/bench_search_checks.py \\
      --model-root ../shared/models --lfw-dir ../shared/datasets/lfw
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

from likeness.library import FaceRecognitionLibrary
from likeness.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-root", default="../shared/models")
    parser.add_argument("--lfw-dir", default="../shared/datasets/lfw")
    parser.add_argument("--people", type=int, default=40, help="half enrolled, all searched")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    root = Path(args.lfw_dir) / "lfw-deepfunneled"
    people = [p for p in sorted(root.iterdir()) if len(list(p.glob("*.jpg"))) >= 2]
    people = people[: args.people]
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            model_root=args.model_root, model_pack="buffalo_s", data_dir=tmp, workers=1
        )
        lib = FaceRecognitionLibrary(settings=settings)
        for person in people[: len(people) // 2]:
            first = sorted(person.glob("*.jpg"))[0]
            lib.enroll(person.name, [first], consent_basis="bench", face_policy="largest")
        probes = [sorted(p.glob("*.jpg"))[1].read_bytes() for p in people]
        loaded = lib.model.current  # the model in force, with its face checks
        unchecked = dataclasses.replace(loaded, gate=None)

        def p50(checks: bool) -> float:
            lib.model.current = loaded if checks else unchecked
            times = []
            for data in probes:
                start = time.perf_counter()
                lib.search_photo(data)
                times.append((time.perf_counter() - start) * 1000)
            return statistics.median(times)

        p50(True)  # warm up
        ratios = []
        for round_ in range(args.rounds):
            without, with_checks = p50(False), p50(True)
            ratios.append(with_checks / without)
            print(
                f"round {round_ + 1}: search_photo p50 {without:.1f} ms without checks, "
                f"{with_checks:.1f} ms with (x{with_checks / without:.2f})"
            )
        lib.model.current = loaded
        lib.close()
    print(f"median ratio over {args.rounds} rounds: x{statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
