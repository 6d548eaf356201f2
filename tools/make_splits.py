"""Write the grouped, stratified train/val/test split of a dataset to a CSV
file (``image_id,group,label,split``) and print the class counts per split.

Only the annotation files are read; images are not needed.  Without
``--out`` the file goes where the dataset classes look for it by default
(``<DATA_ROOT>/lmfloss_splits/<dataset>_<ratios>_seed<seed>.csv``), so a
later training run with ``split_file=''`` uses it.  An existing file is
replaced.

The dataset name is the registered one in any case (``ham10000`` works as
well as ``HAM10000``).

Examples::

    python tools/make_splits.py ham10000 data/HAM10000
    python tools/make_splits.py ISIC2019 data/ISIC2019 --exclude-ham10000 \\
        --seed 1 --ratios 0.8 0.1 0.1 --out splits/isic2019_noham_seed1.csv
    python tools/make_splits.py ODIR5K data/ODIR-5K \\
        --label-source per_eye_keywords
    python tools/make_splits.py CSVImageDataset data/my_dataset \\
        --ann-file labels.csv --group-column patient_id
"""
import argparse
import os.path as osp
import sys

from lmfloss_mm.datasets import CSVImageDataset, HAM10000, ISIC2019, ODIR5K
from lmfloss_mm.datasets.splits import (default_split_filename,
                                        format_split_counts,
                                        make_grouped_split, write_split_file)

DATASETS = {
    'HAM10000': HAM10000,
    'ISIC2019': ISIC2019,
    'ODIR5K': ODIR5K,
    'CSVImageDataset': CSVImageDataset
}


def dataset_name(value: str) -> str:
    """The registered name of a dataset given in any case."""
    names = {name.lower(): name for name in DATASETS}
    try:
        return names[value.lower()]
    except KeyError:
        raise argparse.ArgumentTypeError(
            f'unknown dataset {value!r}; choose one of '
            f'{", ".join(DATASETS)} (any case)') from None


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Write a grouped, stratified split file.')
    parser.add_argument(
        'dataset',
        type=dataset_name,
        help=f'{", ".join(DATASETS)} (any case)')
    parser.add_argument('data_root', help='root folder of the dataset')
    parser.add_argument(
        '--out',
        default='',
        help='output CSV (default: <data_root>/lmfloss_splits/'
        '<dataset>_<ratios>_seed<seed>.csv)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--ratios',
        type=float,
        nargs=3,
        default=(0.7, 0.15, 0.15),
        metavar=('TRAIN', 'VAL', 'TEST'))
    parser.add_argument(
        '--ann-file', default='', help='annotation file (default: found by '
        'its official name under data_root; required for CSVImageDataset)')
    parser.add_argument(
        '--metadata-file', default='', help='ISIC2019 only: metadata CSV')
    parser.add_argument(
        '--exclude-ham10000',
        action='store_true',
        help='ISIC2019 only: drop the HAM10000 images')
    parser.add_argument(
        '--label-source',
        default='kaggle_full_df',
        choices=('kaggle_full_df', 'per_eye_keywords', 'patient_multilabel'),
        help='ODIR5K only')
    parser.add_argument(
        '--image-column',
        default='image',
        help='CSVImageDataset only: column of the image names')
    parser.add_argument(
        '--label-column',
        default=None,
        help='CSVImageDataset only: column of the class names (default: '
        'the only other column, else one-hot class columns)')
    parser.add_argument(
        '--group-column',
        default=None,
        help='CSVImageDataset only: column of the groups (patient, lesion) '
        'kept in one split (default: every image is its own group)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    kwargs = dict(
        data_root=args.data_root,
        ann_file=args.ann_file,
        split='all',
        split_ratios=args.ratios,
        split_seed=args.seed,
        lazy_init=True)
    if args.dataset == 'ISIC2019':
        kwargs.update(
            metadata_file=args.metadata_file,
            exclude_ham10000=args.exclude_ham10000)
    elif args.dataset == 'ODIR5K':
        kwargs.update(label_source=args.label_source)
    elif args.dataset == 'CSVImageDataset':
        kwargs.update(
            image_column=args.image_column,
            label_column=args.label_column,
            group_column=args.group_column)
    dataset = DATASETS[args.dataset](**kwargs)
    table = dataset.load_annotations()
    table.log_exclusions(args.dataset)
    assignment = make_grouped_split(table, dataset.split_ratios, args.seed,
                                    args.dataset)
    out = args.out or osp.join(
        args.data_root, 'lmfloss_splits',
        default_split_filename(dataset.split_key, dataset.split_ratios,
                               args.seed))
    write_split_file(out, table, assignment)
    print(f'{args.dataset}: {len(table)} images from {table.source}')
    print(format_split_counts(table, assignment))
    print(f'Wrote {out}')
    if args.out:
        print(f"Use it with split_file='{osp.abspath(out)}'.")
    return 0


if __name__ == '__main__':
    sys.exit(main())
