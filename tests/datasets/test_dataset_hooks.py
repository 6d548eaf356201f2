"""The hooks of SplitImageDataset that subclasses override: locate_images
gets the annotation table and make_data_list the selected samples with
their files, so a subclass keeps no state between the two.  Expected
values come from the written CSV file and the image folder."""
import csv

from lmfloss_mm.datasets import CSVImageDataset, make_fake_image_csv

COUNTS = dict(mel=6, nv=12, bcc=4)


class RecordingDataset(CSVImageDataset):
    """Records what the hooks receive; one entry per sample with its id."""

    def locate_images(self, index, table, samples):
        self.located = (table.source, [s.image_id for s in samples])
        return super().locate_images(index, table, samples)

    def make_data_list(self, samples, paths):
        self.made = ([s.image_id for s in samples], dict(paths))
        return [dict(img_path=paths[s.image_id], gt_label=int(s.label),
                     image_id=s.image_id) for s in samples]


def test_hooks_get_the_table_the_samples_and_their_files(tmp_path):
    root = make_fake_image_csv(tmp_path / 'data', COUNTS)
    with open(root / 'labels.csv', newline='') as f:
        rows = list(csv.DictReader(f))
    left_out = rows[3]['image']
    (root / 'exclude.txt').write_text(left_out + '\n')
    dataset = RecordingDataset(str(root), split='all', ann_file='labels.csv',
                               exclude_file='exclude.txt')
    expected = [r['image'] for r in rows if r['image'] != left_out]
    assert dataset.located == (str(root / 'labels.csv'), expected)
    ids, paths = dataset.made
    assert ids == expected  # after exclude_file, in file order
    assert paths == {
        i: str(root / 'images' / f'{i}.jpg') for i in expected}
    classes = sorted(COUNTS)
    labels = {r['image']: classes.index(r['label']) for r in rows}
    assert [(dataset.get_data_info(k)['image_id'],
             dataset.get_data_info(k)['gt_label'])
            for k in range(len(dataset))] == [(i, labels[i]) for i in ids]
    assert dataset.excluded_images == [left_out]
    assert f'Annotation file: \t{root / "labels.csv"}' in repr(dataset)
