"""The comparison a user would make with `tachyon features`: five features (mid, spread, level-1 imbalance,
microprice, rolling std of the mid's log return over 100 updates) computed with polars from the same LOBSTER files
(orderbook file read for the book, message file for time), one Parquet file per input (snappy, like Tachyon's
default). polars uses every core it is given (POLARS_MAX_THREADS); inputs run one after the other, each
parallel inside polars. Prints rows, seconds and rows/s for the whole set, as JSON.

Run: bash benches/peers/setup.sh && benches/peers/.venv/bin/python benches/peers/extract_polars.py \
         --out /tmp/peer-out DIR/*_message_*.csv
"""
import argparse
import json
import os
import re
import time

import polars as pl


def orderbook_path(message: str) -> str:
    head, tail = message.rsplit("_message_", 1)
    return f"{head}_orderbook_{tail}"


def features(message: str) -> pl.DataFrame:
    # Only the level-1 columns are parsed (the most favourable reading for polars).
    names = ["ask_price_1", "ask_size_1", "bid_price_1", "bid_size_1"]
    book = pl.read_csv(orderbook_path(message), has_header=False, columns=[0, 1, 2, 3])
    book = book.rename(dict(zip(book.columns, names)))
    times = pl.read_csv(message, has_header=False, columns=[0])
    times = times.rename({times.columns[0]: "time"})
    a, b = pl.col("ask_price_1") / 10_000, pl.col("bid_price_1") / 10_000
    qa, qb = pl.col("ask_size_1").cast(pl.Float64), pl.col("bid_size_1").cast(pl.Float64)
    mid = (a + b) / 2
    return (
        pl.concat([times, book], how="horizontal")
        .select(
            pl.col("time"),
            mid.alias("mid"),
            (a - b).alias("spread"),
            ((qb - qa) / (qb + qa)).alias("imbalance_l1"),
            ((a * qb + b * qa) / (qa + qb)).alias("microprice"),
            mid.log().diff().rolling_std(100).alias("ret_std_100"),
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("inputs", nargs="+")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    start = time.perf_counter()
    rows = 0
    for message in args.inputs:
        df = features(message)
        name = re.sub(r"\.csv(\.gz)?$", "", os.path.basename(message))
        df.write_parquet(os.path.join(args.out, f"{name}.parquet"), compression="snappy")
        rows += df.height
    seconds = time.perf_counter() - start
    print(json.dumps({"peer": "polars", "version": pl.__version__, "threads": pl.thread_pool_size(),
                      "files": len(args.inputs), "rows": rows, "seconds": seconds, "rows_per_s": rows / seconds}))


if __name__ == "__main__":
    main()
