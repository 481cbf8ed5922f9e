"""VOC 2012, Cityscapes and Oxford-IIIT Pet segmentation load from tiny folders in
torchvision's exact layouts (torchvision's own readers accept the same folders)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision import datasets as tvd

from alstudy.cli import main
from alstudy.data import dataset_spec, get_dataset
from alstudy.data.registry import clear_cache
from alstudy.errors import UsageError

from tests.data.conftest import shade, write_cityscapes, write_pets, write_voc


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_cache()
    yield
    clear_cache()


def _check_tensors(ds, n_train: int, n_test: int) -> None:
    spec = ds.spec
    assert spec.task == "segmentation" and spec.ignore_index == 255 and spec.metric == "miou"
    c, h, w = spec.input_shape
    assert ds.x_train.shape == (n_train, c, h, w) and ds.x_test.shape == (n_test, c, h, w)
    assert ds.y_train.shape == (n_train, h, w) and ds.y_test.shape == (n_test, h, w)
    assert ds.x_train.dtype == ds.y_train.dtype == ds.x_test.dtype == ds.y_test.dtype == torch.uint8
    for y in (ds.y_train, ds.y_test):
        values = set(y.unique().tolist())
        assert values <= set(range(spec.num_classes)) | {255}
    x = ds.to_float(ds.x_train[:2])
    assert x.dtype == torch.float32 and x.shape == (2, c, h, w) and torch.isfinite(x).all()


def _shade_of(x: torch.Tensor) -> int:
    """Which fake image k a loaded image is (flat grey `shade(k)`, JPEG within a few levels)."""
    k = round((float(x.float().mean()) - shade(0)) / (shade(1) - shade(0)))
    assert abs(float(x.float().mean()) - shade(k)) < 4
    return k


def test_voc2012_palette_masks_train_and_val_lists(tmp_path):
    ids = write_voc(tmp_path, n_train=3, n_val=2)
    ds = get_dataset("voc2012", root=tmp_path)
    _check_tensors(ds, 3, 2)
    assert ds.input_shape == (3, 256, 256) and ds.num_classes == 21
    for x, y in ((ds.x_train, ds.y_train), (ds.x_test, ds.y_test)):
        for row in range(len(x)):
            k = _shade_of(x[row])
            # 60 px wide source resized to 256: its left half is columns 0..127 (nearest)
            assert (y[row, :, :118] == 1 + k).all() and (y[row, :, 138:] == 20 - k).all()
            assert (y[row, :, 124:132] == 255).all()                    # the border stays ignored
    # the list order is the row order: row k of train is train.txt's k-th id
    assert [_shade_of(x) for x in ds.x_train] == [0, 1, 2] and len(ids["val"]) == 2
    # torchvision's reader finds the same files and the same palette indices
    tv = tvd.VOCSegmentation(str(tmp_path), year="2012", image_set="val")
    target = np.asarray(tv[1][1].resize((256, 256), 0))
    assert np.array_equal(target, ds.y_test[1].numpy())


def test_cityscapes_label_ids_become_the_19_train_ids(tmp_path):
    stems = write_cityscapes(tmp_path, n_train=3, n_val=2, size=(32, 64))
    ds = get_dataset("cityscapes", root=tmp_path)
    _check_tensors(ds, 3, 2)
    assert ds.input_shape == (3, 256, 512) and ds.num_classes == 19
    train_ids = np.array([0, 13, 255, 18])        # road, car, parking (ignored), bicycle
    for x, y in ((ds.x_train, ds.y_train), (ds.x_test, ds.y_test)):
        for row in range(len(x)):
            k = _shade_of(x[row])
            bands = np.roll(train_ids, k)
            for b in range(4):                    # 16 px bands at 64 px wide: 128 px at 512
                assert (y[row, 8:, 128 * b:128 * (b + 1)] == int(bands[b])).all()
            assert (y[row, :8] == 255).all()      # labelId 0 (unlabeled) in the source's top row
    # rows follow the sorted <city>/<stem> file names, the order torchvision lists them in
    tv = tvd.Cityscapes(str(tmp_path), split="train", mode="fine", target_type="semantic")
    assert [p.split("/")[-2] + "/" + p.split("/")[-1][:-len("_leftImg8bit.png")] for p in tv.images] \
        == stems["train"]
    assert [_shade_of(x) for x in ds.x_train] == [0, 2, 1]   # aachen 0, aachen 2, bochum 1


def test_oxford_pets_trimaps_pet_background_border_ignored(tmp_path):
    write_pets(tmp_path, n_trainval=3, n_test=2)
    ds = get_dataset("oxford_pets_seg", root=tmp_path)
    _check_tensors(ds, 3, 2)
    assert ds.input_shape == (3, 128, 128) and ds.num_classes == 2
    for x, y in ((ds.x_train, ds.y_train), (ds.x_test, ds.y_test)):
        for row in range(len(x)):
            k = _shade_of(x[row])
            pet_col = 39 if k % 2 == 0 else 90    # the source's pet centre column, resized
            assert y[row, 64, pet_col] == 1 and y[row, 5, 6] == 0 and y[row, 27, pet_col] == 255
            assert y[row, 64, 90 if k % 2 == 0 else 39] == 0
    tv = tvd.OxfordIIITPet(str(tmp_path), split="test", target_types="segmentation")
    assert len(tv) == 2 and np.array_equal(np.unique(np.asarray(tv[0][1])), [1, 2, 3])


@pytest.mark.parametrize("name, expected", [
    ("voc2012", "VOCdevkit/VOC2012/ImageSets/Segmentation/train.txt not found"),
    ("cityscapes", "leftImg8bit/train not found"),
    ("oxford_pets_seg", "oxford-iiit-pet/annotations/trainval.txt not found"),
])
def test_missing_folder_is_one_line_naming_the_layout(tmp_path, name, expected):
    with pytest.raises(UsageError, match="never downloads") as err:
        get_dataset(name, root=tmp_path)
    assert expected in str(err.value) and "torchvision" in str(err.value) and "\n" not in str(err.value)


def test_missing_mask_and_bad_mask_name_the_file(tmp_path):
    write_voc(tmp_path)
    mask = tmp_path / "VOCdevkit/VOC2012/SegmentationClass/2008_000001.png"
    mask.unlink()
    with pytest.raises(UsageError, match="2008_000001.png not found"):
        get_dataset("voc2012", root=tmp_path)
    from PIL import Image

    Image.new("RGB", (60, 40)).save(mask)           # a colour PNG is not a mask of class ids
    with pytest.raises(UsageError, match="cannot read mask .*2008_000001.png.*mode RGB"):
        get_dataset("voc2012", root=tmp_path)
    Image.fromarray(np.full((40, 60), 30, np.uint8), mode="L").save(mask)
    with pytest.raises(UsageError, match="2008_000001.png holds class ids above 20"):
        get_dataset("voc2012", root=tmp_path)


def test_cli_exits_2_with_one_line_for_a_missing_folder(tmp_path, capsys):
    code = main(["campaign", "--dataset", "cityscapes", "--data-root", str(tmp_path), "--model", "cnn2d",
                 "--strategy", "random", "--initial", "2", "--per-cycle", "2", "--cycles", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "leftImg8bit/train not found" in err[0], err


def test_no_root_says_segmentation_is_never_downloaded():
    with pytest.raises(UsageError, match="data root.*never downloaded"):
        get_dataset("voc2012")


def test_full_size_cityscapes_fixture_loads_at_256x512(full_size_cityscapes):
    from PIL import Image

    first = next((full_size_cityscapes / "leftImg8bit" / "train").glob("*/*.png"))
    assert Image.open(first).size == (2048, 1024)
    ds = get_dataset("cityscapes", root=full_size_cityscapes)
    assert ds.n_train == 3 and ds.x_test.shape == (2, 3, 256, 512)
    assert dataset_spec("cityscapes").n_train is None   # validation counts the real folder
