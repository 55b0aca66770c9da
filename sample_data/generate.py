"""Write the sample data sets in this folder (deterministic: fixed seed).

    python sample_data/generate.py

ratings.csv  synthetic explicit ratings: 1,000 users x 500 items, 50,000 ratings, 1-5 stars,
             a low-rank taste structure plus biases and noise, skewed (Zipf-like) popularity,
             string item IDs; items.csv gives each item a name.
food.csv     the food-purchase counts of article 000 as user,item,count rows (implicit
             feedback: the zero cells are simply absent); food_matrix.csv the same as a matrix
             (--layout wide).
movies3x3.csv the 3 x 3 movie ratings of article 001 (wide layout, 0 = missing).
article001.csv the four-row long-format example of article 001 (scale 0.5-5).
gd5x4.csv    the 5 x 4 gradient-descent example of article 002 (wide layout, 0 = missing).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SEED = 20261122
N_USERS, N_ITEMS, N_RATINGS, RANK = 1000, 500, 50_000, 5

ADJECTIVES = [
    "Silent", "Crimson", "Hidden", "Last", "Golden", "Broken", "Midnight", "Wild", "Lost",
    "Electric", "Frozen", "Distant", "Secret", "Burning", "Quiet", "Iron", "Paper", "Glass",
    "Hollow", "Northern",
]  # fmt: skip
NOUNS = [
    "Harbor", "Garden", "Signal", "River", "Empire", "Letter", "Machine", "Forest", "City",
    "Voyage", "Mirror", "Storm", "Orchard", "Station", "Crown", "Island", "Archive", "Bridge",
    "Comet", "Valley", "Lantern", "Circus", "Desert", "Tower", "Echo",
]  # fmt: skip


def ratings(rng: np.random.Generator) -> tuple[str, str]:
    taste_u = rng.normal(0.0, 1.0, (N_USERS, RANK))
    taste_i = rng.normal(0.0, 1.0, (N_ITEMS, RANK))
    bias_u = rng.normal(0.0, 0.4, N_USERS)
    bias_i = rng.normal(0.0, 0.5, N_ITEMS)
    popularity = 1.0 / np.arange(1, N_ITEMS + 1) ** 0.9
    popularity = popularity[rng.permutation(N_ITEMS)]
    activity = rng.lognormal(0.0, 0.8, N_USERS)
    per_user = np.maximum(5, np.round(activity / activity.sum() * N_RATINGS)).astype(int)
    per_user = np.minimum(per_user, N_ITEMS // 2)
    # Adjust the largest counts so the total is exactly N_RATINGS.
    excess = per_user.sum() - N_RATINGS
    for u in np.argsort(-per_user):
        if excess == 0:
            break
        change = int(np.clip(excess, -(N_ITEMS // 2 - per_user[u]), per_user[u] - 5))
        per_user[u] -= change
        excess -= change
    affinity = taste_u @ taste_i.T / np.sqrt(RANK)
    lines = ["user_id,item_id,rating"]
    for u in range(N_USERS):
        # Users choose what they like, weighted by how visible each item is.
        weight = popularity * np.exp(0.7 * affinity[u])
        chosen = rng.choice(N_ITEMS, size=per_user[u], replace=False, p=weight / weight.sum())
        score = 3.6 + bias_u[u] + bias_i[chosen] + 0.8 * affinity[u, chosen]
        stars = np.clip(np.round(score + rng.normal(0.0, 0.6, len(chosen))), 1, 5).astype(int)
        lines += [f"u{u + 1},m{i + 1:03d},{s}" for i, s in zip(chosen, stars)]
    names = ["item_id,name"]
    for i in range(N_ITEMS):
        a, n = ADJECTIVES[i % len(ADJECTIVES)], NOUNS[(i * 7) % len(NOUNS)]
        names.append(f"m{i + 1:03d},The {a} {n} ({1950 + (i * 37) % 74})")
    return "\n".join(lines) + "\n", "\n".join(names) + "\n"


def matrix_csv(header: list[str], rows: list[list[int]], label: str = "user") -> str:
    out = [",".join([label, *header])]
    out += [",".join([str(k + 1), *map(str, row)]) for k, row in enumerate(rows)]
    return "\n".join(out) + "\n"


def long_csv(items: list[str], rows: list[list[int]]) -> str:
    out = ["user,item,count"]
    out += [
        f"{u + 1},{item},{count}"
        for u, row in enumerate(rows)
        for item, count in zip(items, row)
        if count
    ]
    return "\n".join(out) + "\n"


FOOD = [[1, 1, 2, 2], [1, 0, 0, 0], [1, 1, 1, 1], [1, 0, 1, 1], [0, 1, 3, 3], [1, 1, 0, 0]]
MOVIES = [[5, 3, 0], [4, 0, 0], [1, 1, 0]]
GRADIENT = [[5, 3, 0, 1], [4, 0, 0, 1], [1, 1, 0, 5], [1, 0, 0, 4], [0, 1, 5, 4]]


def main() -> None:
    rng = np.random.default_rng(SEED)
    rating_text, item_text = ratings(rng)
    files = {
        "ratings.csv": rating_text,
        "items.csv": item_text,
        "food.csv": long_csv(["pizza", "chicken", "burger", "fries"], FOOD),
        "food_matrix.csv": matrix_csv(["pizza", "chicken", "burger", "fries"], FOOD),
        "movies3x3.csv": matrix_csv(["movie1", "movie2", "movie3"], MOVIES),
        "gd5x4.csv": matrix_csv(["item1", "item2", "item3", "item4"], GRADIENT),
        "article001.csv": "user_id,movie_id,rating\n1,A,4.5\n2,B,3.0\n1,C,5.0\n3,A,2.5\n",
    }
    for name, text in files.items():
        (HERE / name).write_text(text, encoding="utf-8")
        print(f"wrote {name}")


if __name__ == "__main__":
    main()
