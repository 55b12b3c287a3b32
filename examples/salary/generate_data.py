"""Write ``Salary_predict.csv``: the seeds' salary data, synthetic and deterministic.

Salary grows with experience, age and the interview score, plus noise; the same seed always
gives the same file, so runs of the example are comparable across machines.

    python generate_data.py            # rewrites Salary_predict.csv beside this file
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

ROWS = 300
SEED = 2024


def rows(n: int = ROWS, seed: int = SEED) -> list[dict[str, int]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        experience = rng.randint(0, 30)
        age = experience + rng.randint(21, 30)
        score = rng.randint(1, 10)
        salary = 30000 + 2000 * experience + 150 * age + 900 * score + rng.gauss(0, 1500)
        out.append(
            {
                "experience": experience,
                "age": age,
                "interview_score": score,
                "Salary": round(salary),
            }
        )
    return out


def main() -> None:
    target = Path(__file__).with_name("Salary_predict.csv")
    with target.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["experience", "age", "interview_score", "Salary"])
        writer.writeheader()
        writer.writerows(rows())
    print(f"Wrote {ROWS} rows to {target}")


if __name__ == "__main__":
    main()
