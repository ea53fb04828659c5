#!/usr/bin/env python3
"""Prepares a CTR dataset for torchrec_dlf (Parquet splits + metadata.json); the same
command as ``python -m torchrec_dlf.prepare`` and ``torchrec-dlf-prepare``.

One subcommand per source, all writing the same layout::

    python datasets/prepare.py criteo train.txt --output data/criteo_kaggle
    python datasets/prepare.py criteo --split day day_{0..23} --output data/criteo_1tb
    python datasets/prepare.py avazu train.csv --output data/avazu
    python datasets/prepare.py bars --train train.csv --valid valid.csv --test test.csv --output data/frappe_x1
    python datasets/prepare.py libfm --train train.fm.txt --test test.fm.txt --valid_from_train 0.1 \\
        --field_ranges 0-99,100-199 --output data/ipinyou
    python datasets/prepare.py csv --schema datasets/schemas/criteo_sample.json sample.txt --output data/sample
    python datasets/prepare.py criteo new.txt --vocabulary_from data/criteo_kaggle --output data/new

``python datasets/prepare.py <source> --help`` lists the options of each, with their
defaults. Exit status: 0 when prepared; 2 for a user error (one ``error: ...`` line on
stderr naming the file, line and field, or the flag); 143 when stopped by SIGTERM (the
temporaries are removed, the output is left as it was).
"""

import sys

from torchrec_dlf.prepare import main

if __name__ == "__main__":
    sys.exit(main())
