"""Bad input: one clear line on stderr, exit status 2, and every existing file left as it was.

Each case of :data:`CASES` runs an experiment in-process with bad options against a real
run directory (made once per module) and the folders and files the case needs (made per
test under ``tmp_path``). It checks the whole stderr line, the exit status, that nothing
was logged that a real process would print, and that not one byte, file or folder of the
existing run or of ``tmp_path`` changed. A few cases also run as real processes.
"""

import hashlib
import io
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch
from PIL import Image

from experiments import dcgan_folder, ebgan_mnist, gan_mnist, lsgan_mnist
from tests.conftest import PROJECT_ROOT

SMALL = ["--limit", "64", "--batch-size", "16", "--image-size", "16", "--feature-maps", "8", "--z-dim", "8",
         "--n-samples", "4", "--no-progress"]
ARGPARSE = "python -m experiments.gan_mnist: error:"
ANY = "<any>"  # in an expected line: any text


@pytest.fixture(scope="module")
def existing_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("existing")
    gan_mnist.main([*SMALL, "--epochs", "1", "--out", str(out)])  # 4 iterations: checkpoint_4.pt
    return out


def fingerprint(root):
    """Every file's SHA-256 and every folder under ``root``."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*"))}


def png_bytes(seed):
    pixels = torch.randint(0, 256, (8, 8, 3), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels.numpy()).save(buffer, format="PNG")
    return buffer.getvalue()


def folder_with(path, files):
    path.mkdir()
    for name, data in files.items():
        (path / name).write_bytes(data)
    return path


def images_and(name, data):
    return {**{f"{i}.png": png_bytes(i) for i in range(4)}, name: data}


def run_copy(path, existing_run, checkpoint_bytes, signed=False):
    """A copy of the existing run whose checkpoint holds ``checkpoint_bytes(original)``.

    ``signed``: its SHA-256 sidecar is rewritten to match, as a crafted file's would be.
    """
    shutil.copytree(existing_run, path)
    checkpoint = path / "checkpoints" / "checkpoint_4.pt"
    checkpoint.write_bytes(checkpoint_bytes(checkpoint.read_bytes()))
    if signed:
        digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
        (path / "checkpoints" / "checkpoint_4.pt.sha256").write_text(f"{digest}  checkpoint_4.pt\n")
    return path


def edited_run(path, existing_run, edit):
    """A copy of the existing run changed by ``edit(copy)``."""
    shutil.copytree(existing_run, path)
    edit(path)
    return path


def set_config(**settings):
    def edit(run):
        config = json.loads((run / "config.json").read_text())
        (run / "config.json").write_text(json.dumps({**config, **settings}))
    return edit


def set_marker(**fields):
    def edit(run):
        marker = json.loads((run / "run.json").read_text())
        (run / "run.json").write_text(json.dumps({**marker, **fields}))
    return edit


def flip_middle_bit(data):
    middle = len(data) // 2  # inside the tensor data of the zip archive
    return data[:middle] + bytes([data[middle] ^ 0x10]) + data[middle + 1:]


def link_images_elsewhere(tmp):
    def edit(run):
        (run / "images").rename(tmp / "elsewhere")
        (run / "images").symlink_to(tmp / "elsewhere")
    return edit


def replace_with_folder(name):
    def edit(run):
        (run / name).unlink()
        (run / name).mkdir()
    return edit


def replace_with_file(name):
    def edit(run):
        shutil.rmtree(run / name)
        (run / name).write_text("not a folder")
    return edit


def remove(name):
    return lambda run: (shutil.rmtree if (run / name).is_dir() else Path.unlink)(run / name)


def dangling(path, target):
    path.symlink_to(target)
    return path


class WritesMarker:
    """Unpickling this calls ``Path(marker).touch()``: a crafted checkpoint's payload."""

    def __init__(self, marker):
        self.marker = Path(marker)

    def __reduce__(self):
        return Path.touch, (self.marker,)


def crafted(tmp):
    buffer = io.BytesIO()
    torch.save({"gen": WritesMarker(tmp / "marker"), "trainer": {}}, buffer)
    return lambda original: buffer.getvalue()


def read_only(path):
    path.mkdir()
    path.chmod(0o500)
    return path


def a_file(path, data):
    path.write_bytes(data)
    return path


# Folders and files a case names as {name}; made only when a case uses them.
PLACES = {
    "empty": lambda tmp, run: folder_with(tmp / "empty", {}),
    "file": lambda tmp, run: a_file(tmp / "file.txt", b"keep me"),
    "noimages": lambda tmp, run: folder_with(tmp / "noimages", {"notes.txt": b"no images here"}),
    "corrupt": lambda tmp, run: folder_with(tmp / "corrupt", images_and("broken.png", b"not a png at all")),
    "truncated": lambda tmp, run: folder_with(tmp / "truncated", images_and("cut.png", png_bytes(9)[:100])),
    "notempty": lambda tmp, run: folder_with(tmp / "notempty", {"notes.txt": b"mine"}),
    "norun": lambda tmp, run: folder_with(tmp / "norun", {"config.json": b"{}"}),
    "readonly": lambda tmp, run: read_only(tmp / "readonly"),
    "cutckpt": lambda tmp, run: run_copy(tmp / "cutckpt", run, lambda data: data[: len(data) // 2]),
    "crafted": lambda tmp, run: run_copy(tmp / "crafted", run, crafted(tmp)),
    # checkpoints whose sidecar matches their damage: the loader's own diagnosis speaks
    "cutsigned": lambda tmp, run: run_copy(tmp / "cutsigned", run, lambda data: data[: len(data) // 2], signed=True),
    "cut1": lambda tmp, run: run_copy(tmp / "cut1", run, lambda data: data[:1], signed=True),
    "cut3": lambda tmp, run: run_copy(tmp / "cut3", run, lambda data: data[:3], signed=True),
    "craftedsigned": lambda tmp, run: run_copy(tmp / "craftedsigned", run, crafted(tmp), signed=True),
    "flipped": lambda tmp, run: run_copy(tmp / "flipped", run, flip_middle_bit),
    "nosidecar": lambda tmp, run: edited_run(tmp / "nosidecar", run, remove("checkpoints/checkpoint_4.pt.sha256")),
    # run directories that are not what they seem
    "holiday": lambda tmp, run: edited_run(tmp / "holiday", run, lambda r: (r / "images" / "holiday.png").write_bytes(
        png_bytes(5))),
    "linkedimages": lambda tmp, run: edited_run(tmp / "linkedimages", run, link_images_elsewhere(tmp)),
    "imagesonly": lambda tmp, run: folder_with(tmp / "imagesonly", {}) and folder_with(
        tmp / "imagesonly" / "images", {"x.png": png_bytes(6)}).parent,
    "nomarker": lambda tmp, run: edited_run(tmp / "nomarker", run, remove("run.json")),
    "nockpt": lambda tmp, run: edited_run(tmp / "nockpt", run, remove("checkpoints")),
    "noconfig": lambda tmp, run: edited_run(tmp / "noconfig", run, remove("config.json")),
    "configdir": lambda tmp, run: edited_run(tmp / "configdir", run, replace_with_folder("config.json")),
    "badtype": lambda tmp, run: edited_run(tmp / "badtype", run, set_config(batch_size="16")),
    "nullseed": lambda tmp, run: edited_run(tmp / "nullseed", run, set_config(seed=None)),
    "badloss": lambda tmp, run: edited_run(tmp / "badloss", run, set_config(loss="wgan")),
    "newlines": lambda tmp, run: edited_run(tmp / "newlines", run, set_marker(
        experiment="gan_mnist\nTraceback (most recent call last):\n  fake")),
    "fewer": lambda tmp, run: edited_run(tmp / "fewer", run, set_config(limit=32)),
    "zerolr": lambda tmp, run: edited_run(tmp / "zerolr", run, set_config(log_interval=0)),
    "wider": lambda tmp, run: edited_run(tmp / "wider", run, set_config(feature_maps=16)),
    "tbfile": lambda tmp, run: edited_run(tmp / "tbfile", run, replace_with_file("tb")),
    "dangling": lambda tmp, run: dangling(tmp / "dangling", tmp / "missing"),
    "home": lambda tmp, run: tmp / "home",  # $HOME during every case: see make_places
    "homerun": lambda tmp, run: edited_run(tmp / "home" / "run", run, lambda r: None),
    "logos": lambda tmp, run: folder_with(tmp / "logos", images_and("4.png", png_bytes(4))),
}


def is_root():
    return getattr(os, "geteuid", lambda: -1)() == 0


def cannot_write_in(folder):
    try:
        with tempfile.TemporaryFile(dir=folder):
            return False
    except OSError:
        return True


NEEDS_NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is visible")
NEEDS_NON_ROOT = pytest.mark.skipif(is_root(), reason="root ignores directory permissions")
NEEDS_SYSFS = pytest.mark.skipif(not (sys.platform == "linux" and cannot_write_in("/sys")),
                                 reason="needs Linux's sysfs, where no one can create files")
MISMATCH = "does not match this run: {} ; resume with the options the run was started with".replace(" ;", ";")


def case(args, expected, module=gan_mnist, marks=(), id=None, small=True, needs=()):
    """One bad input: ``args`` after the small run's options (unless not ``small``), and the line expected.

    ``needs`` names places to make that neither ``args`` nor ``expected`` mention.
    """
    args = [*SMALL, *args] if small else [*args, "--no-progress"]
    return pytest.param(module, args, expected, needs, marks=marks, id=id)


def overcommits():
    try:
        return Path("/proc/sys/vm/overcommit_memory").read_text().strip() == "1"
    except OSError:
        return False


NEEDS_HEURISTIC_OVERCOMMIT = pytest.mark.skipif(
    overcommits(), reason="with vm.overcommit_memory=1 an impossible allocation succeeds and the OOM killer strikes")
CHANGED = ("error: --resume: the run was started with {}, not {}; it would change the epoch length and the order of "
           "the data; leave {} out to continue the run, or start a new run in another --out")
INTEGRITY = ("error: checkpoint {}/checkpoints/checkpoint_4.pt fails its integrity check ({}), and no earlier "
             "checkpoint verifies; start afresh with --force")
CUT_OFF = ("error: Cannot read checkpoint {}/checkpoints/checkpoint_4.pt (the file is cut off: it ends before its zip "
           "archive does); delete it to resume from an earlier one")
FOREIGN = ("error: --force replaces only what a run wrote, but {} holds {} ({}); move it out of the run directory "
           "first, or choose another --out; nothing was deleted")
RESUME = ["--resume", "--epochs", "2"]


FORCE = ["--out", "{run}", "--force", "--epochs", "1"]  # replacing the existing run, had the options been good
CASES = [
    # datasets
    case([*FORCE, "--dataset", "imagenet"], "error: Argument `dataset` should be one of digits, mnist, fashion-mnist, "
         "cifar10 or a folder of images, but given 'imagenet'", id="unknown dataset"),
    case([*FORCE, "--dataset", "{tmp}/missing"], "error: Argument `dataset` should be one of digits, mnist, "
         "fashion-mnist, cifar10 or a folder of images, but the folder '{tmp}/missing' does not exist; pass one that "
         "does", id="missing image folder"),
    case([*FORCE, "--dataset", "{empty}"], "error: No images (png, jpg, jpeg, bmp, gif, webp) found under {empty}; "
         "pass a folder that holds some", id="empty image folder"),
    case([*FORCE, "--dataset", "{noimages}"], "error: No images (png, jpg, jpeg, bmp, gif, webp) found under "
         "{noimages}; pass a folder that holds some", id="folder without images"),
    case([*FORCE, "--dataset", "{corrupt}"], "error: Cannot read image {corrupt}/broken.png (cannot identify image "
         "file '{corrupt}/broken.png'); remove or replace it", id="corrupt image in the folder"),
    case([*FORCE, "--dataset", "{truncated}"], "error: Cannot read image {truncated}/cut.png (Truncated File Read); "
         "remove or replace it", id="truncated image in the folder"),
    case([*FORCE, "--dataset", "{file}"], "error: Argument `dataset` should be a folder of images, but given the "
         "file {file}; pass the folder that holds it", id="dataset is a file"),
    case([*FORCE, "--dataset", "mnist", "--data-root", "{empty}"], "error: MNIST not found under {empty} (download "
         "failed: <any>): expected {empty}/MNIST/raw/train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz "
         "(gzipped or not); pass --data-root pointing at the folder that holds MNIST/, or run once with network "
         "access to download it", id="no MNIST under --data-root"),
    case([*FORCE, "--classes", "11"], "error: Argument `classes` should hold some of the labels of digits (0, 1, 2, "
         "3, 4, 5, 6, 7, 8, 9), but given [11]", id="unknown class"),
    case([*FORCE, "--limit", "-1"], "error: --limit should be zero (all images) or more, but given -1",
         id="negative limit"),
    # sizes and numbers
    case([*FORCE, "--image-size", "30"], "error: Argument `image_size` should be one of 16, 28, 32, 64, but given "
         "30; pass --image-size with one of them", id="image size the model cannot produce"),
    case([*FORCE, "--image-size", "0"], "error: --image-size should be a positive integer, but given 0",
         id="zero image size"),
    case([*FORCE, "--batch-size", "65"], "error: Argument `batch_size` (65) is larger than the dataset (64 images); "
         "pass a smaller --batch-size", id="batch larger than the dataset with drop_last"),
    case([*FORCE, "--batch-size", "-4"], "error: --batch-size should be a positive integer, but given -4",
         id="negative batch size"),
    case([*FORCE, "--epochs", "0"], "error: --epochs should be a positive integer, but given 0", id="zero epochs"),
    case([*FORCE, "--feature-matching", "--fm-weight", "-1"], "error: --fm-weight should be zero or a positive "
         "number, but given -1.0", module=dcgan_folder, id="negative feature-matching weight"),
    case([*FORCE, "--ema-decay", "1.5"], "error: --ema-decay should be 0 (off) or between 0 and 1, e.g. 0.999, "
         "but given 1.5", id="generator average decay above one"),
    case([*FORCE, "--lr-decay", "0"], "error: --lr-decay should be more than 0 and at most 1, e.g. 0.9 (1: off), "
         "but given 0.0", id="learning-rate decay of zero"),
    case([*FORCE, "--early-stopping", "eval/fid"], "error: --early-stopping eval/fid watches an evaluation; pass "
         "--eval-interval N to evaluate every N epochs", id="early stopping on an evaluation that never runs"),
    case([*FORCE, "--patience", "0"], "error: --patience should be a positive integer, but given 0",
         id="zero patience"),
    case([*FORCE, "--early-stopping", "gen/loss", "--early-stopping-mode", "lowest"],
         "error: --early-stopping-mode should be one of auto, min, max, but given 'lowest'",
         id="unknown early-stopping mode"),
    case([*FORCE, "--lr-dis", "-0.0001"], "error: --lr-dis should be a positive number (or 0: the same as --lr), "
         "but given -0.0001", id="negative discriminator learning rate"),
    case([*FORCE, "--epochs", "-3"], "error: --epochs should be a positive integer, but given -3",
         id="negative epochs"),
    case([*FORCE, "--epochs", "two"], f"{ARGPARSE} argument --epochs: invalid int value: 'two' (see --help)",
         id="non-numeric epochs"),
    case([*FORCE, "--lr", "fast"], f"{ARGPARSE} argument --lr: invalid float value: 'fast' (see --help)",
         id="non-numeric learning rate"),
    case([*FORCE, "--lr", "0"], "error: --lr should be a positive number, but given 0.0", id="zero learning rate"),
    case([*FORCE, "--lr", "nan"], "error: --lr should be a positive number, but given nan", id="nan learning rate"),
    case([*FORCE, "--beta1", "1.5"], "error: --beta1 should be at least 0 and less than 1, but given 1.5",
         id="Adam beta out of range"),
    case([*FORCE, "--seed", "-1"], "error: --seed should be an integer from 0 to 2**32 - 1, but given -1",
         id="negative seed"),
    case([*FORCE, "--z-dim", "0"], "error: --z-dim should be a positive integer, but given 0",
         id="zero noise size"),
    case([*FORCE, "--n-dis", "0"], "error: --n-dis should be a positive integer, but given 0",
         id="zero discriminator steps"),
    case([*FORCE, "--num-workers", "-1"], "error: --num-workers should be zero or more, but given -1",
         id="negative workers"),
    case([*FORCE, "--n-reconstructions", "0"], "error: --n-reconstructions should be a positive integer, but given "
         "0", module=ebgan_mnist, id="zero EBGAN reconstructions"),
    case([*FORCE, "--spectral-norm"], "error: --spectral-norm shapes the DCGAN discriminator, which this "
         "experiment replaces with EBGANDiscriminator; leave it out", module=ebgan_mnist, id="spectral norm on EBGAN's autoencoder"),
    case([*FORCE, "--fc-units", "16"], "error: --fc-units shapes the DCGAN discriminator, which this "
         "experiment replaces with EBGANDiscriminator; leave it out", module=ebgan_mnist, id="fully connected layer on EBGAN's autoencoder"),
    case([*FORCE, "--fc-units", "-1"], "error: --fc-units should be zero (no such layer) or more, e.g. 1024, but "
         "given -1", id="negative fully connected units"),
    case([*FORCE, "--fc-units", "16", "--batch-size", "1"], "error: --fc-units with batch norm needs --batch-size 2 "
         "or more; raise it or pass --no-batch-norm", id="fully connected batch norm of one image"),
    # names and flags
    case([*FORCE, "--loss", "wgan"], "error: --loss should be one of gan, minimax, hinge, wgan-gp, lsgan, but "
         "given 'wgan'", id="unknown loss"),
    case([*FORCE, "--dis-batches", "both"], "error: --dis-batches should be one of separate, joint, but given "
         "'both'", id="unknown discriminator batches"),
    case([*FORCE, "--device", "tpu"], "error: --device should be one of auto, cpu, cuda, but given 'tpu'",
         id="unknown device"),
    case([*FORCE, "--device", "cuda"], "error: --device cuda was given but no CUDA device is visible; pass --device "
         "cpu or auto", marks=NEEDS_NO_CUDA, id="cuda without CUDA"),
    case([*FORCE, "--bogus", "3"], f"{ARGPARSE} unrecognized arguments: --bogus 3 (see --help)",
         id="unknown option"),
    case([*FORCE, "--resume"], "error: --resume and --force contradict each other; pass one of them",
         id="resume and force"),
    # the run directory
    case(["--out", "{run}"], "error: --out {run} already holds a run of gan_mnist (started <any>); pass --resume to "
         "continue it, --force to replace it, or choose another --out", id="new run into an existing run"),
    case(["--out", "{notempty}"], "error: --out {notempty} is not empty (notes.txt) and holds no run; choose a new "
         "or empty directory", id="new run into other files"),
    case(["--out", "{notempty}", "--force"], "error: --out {notempty} is not empty (notes.txt) and holds no run; "
         "--force replaces only a gan_ignite run; choose a new or empty directory", id="force into other files"),
    case(["--out", "{imagesonly}"], "error: --out {imagesonly} is not empty (images) and holds no run; choose a new "
         "or empty directory", id="new run into a folder that merely has an images entry"),
    case(["--out", "{imagesonly}", "--force"], "error: --out {imagesonly} is not empty (images) and holds no run; "
         "--force replaces only a gan_ignite run; choose a new or empty directory",
         id="force into a folder that merely has an images entry"),
    case(["--out", "{nomarker}", "--force"], "error: --out {nomarker} is not empty (checkpoints, config.json, images, "
         "...) and holds no run; --force replaces only a gan_ignite run; choose a new or empty directory",
         id="force into a run without its run.json"),
    case(["--out", "{holiday}", "--force"], FOREIGN.format("{holiday}", "images/holiday.png", "which no run writes"),
         id="force keeps a user's file in images"),
    case(["--out", "{linkedimages}", "--force"], FOREIGN.format("{linkedimages}", "images",
         "a symbolic link, which a run never makes"), id="force does not follow a symlinked images folder"),
    case(["--out", "{dangling}"], "error: --out {dangling} is a symbolic link to {tmp}/missing, which does not exist; "
         "create the target or pass another path", id="dangling symlink out"),
    case(["--out", "{tmp}/" + "x" * 300], "error: --out has a name of 300 bytes (xxxxxxxxxxxxxxxxxxxx...), longer "
         "than the 255 this file system allows; pass a shorter path", id="out name too long"),
    case(["--out", "~/run"], "error: --out {home}/run already holds a run of gan_mnist (started <any>); pass "
         "--resume to continue it, --force to replace it, or choose another --out",
         needs=("homerun",), id="tilde out is the home folder"),
    case(["--z-dim", "100000000", "--out", "{tmp}/run"], "error: not enough memory: it tried to allocate <any> GB at "
         "once; lower --batch-size or the network sizes (--z-dim, --feature-maps, --fc-units)",
         marks=NEEDS_HEURISTIC_OVERCOMMIT, small=False, id="impossible allocation"),
    case(["--out", "{file}"], "error: --out {file} is a file, not a directory; pass a directory path",
         id="out is a file"),
    case(["--out", "{file}/run"], "error: --out {file}/run lies inside the file {file}, not a directory; pass a "
         "directory path", id="out inside a file"),
    case(["--out", "{readonly}/run"], "error: --out {readonly}/run is not writable (Permission denied in "
         "{readonly}); pass a directory you can write to", marks=NEEDS_NON_ROOT, id="unwritable out"),
    case(["--out", "/sys/gan_ignite_run"], "error: --out /sys/gan_ignite_run is not writable (<any> in /sys); pass a "
         "directory you can write to", marks=NEEDS_SYSFS, id="out on a read-only file system"),
    # resuming
    case(["--out", "{empty}", "--resume"], "error: --resume: {empty} holds no run; start the run without --resume",
         id="resume with no run"),
    case(["--out", "{norun}", "--resume"], "error: --resume: {norun} holds no run (no run.json); pass the --out of a "
         "gan_ignite run", id="resume of a folder with a config.json but no run.json"),
    case(["--out", "{nockpt}", "--resume"], "error: --resume: no checkpoint in {nockpt}/checkpoints; start it afresh "
         "with --force", id="resume of a run without checkpoint"),
    case(["--out", "{run}", "--resume", "--epochs", "1"], "error: The run already reached epoch 1 of 1; pass a "
         "larger number of epochs to continue it", id="resume of a finished run"),
    case(["--out", "{wider}", *RESUME], "error: Checkpoint {wider}/checkpoints/checkpoint_4.pt " + MISMATCH.format(
         "gen.net.0.weight has shape [256, 8] in the checkpoint but [512, 8] here (and 10 more differences)"),
         small=False, id="checkpoint of another width than its config.json"),
    case(["--out", "{run}", *RESUME, "--feature-maps", "16"], "error: --resume: the run was started with "
         "--feature-maps 8, not --feature-maps 16; only learning rates, Adam betas, epochs, intervals, the EMA decay, "
         "workers, --preload-mb, device, progress, --compile, --sync-batch-norm and the launch options may change; leave "
         "--feature-maps out to continue the run, or start a new run in another --out", id="resume with another network width"),
    case(["--out", "{run}", *RESUME], "error: --resume: {run} is a run of gan_mnist, not ebgan_mnist; continue it "
         "with python -m experiments.gan_mnist, or start ebgan_mnist in another --out", module=ebgan_mnist,
         id="resume with another experiment"),
    case(["--out", "{run}", *RESUME], "error: --resume: {run} is a run of gan_mnist, not lsgan_mnist; continue it "
         "with python -m experiments.gan_mnist, or start lsgan_mnist in another --out", module=lsgan_mnist,
         id="resume with another loss's experiment"),
    case(["--out", "{run}", *RESUME, "--loss", "hinge"], "error: --resume: the run was started with --loss gan, not "
         "--loss hinge; only learning rates, Adam betas, epochs, intervals, the EMA decay, workers, --preload-mb, "
         "device, progress, --compile, --sync-batch-norm and the launch options may change; leave --loss out to "
         "continue the run, or start a new run in another --out",
         id="resume with another loss"),
    case(["--out", "{run}", *RESUME, "--batch-size", "32"], "error: --resume: the run's global batch is 16 images "
         "(1 process of 16), which a resumed run keeps; with 1 process pass --batch-size 16, or leave it out",
         id="resume with another batch size"),
    case(["--out", "{run}", *RESUME, "--limit", "32"], CHANGED.format("--limit 64", "--limit 32", "--limit"),
         id="resume with another limit"),
    case(["--out", "{run}", *RESUME, "--classes", "7"], CHANGED.format("--classes", "--classes 7", "--classes"),
         id="resume with other classes"),
    case(["--out", "{run}", *RESUME, "--image-size", "28"], CHANGED.format("--image-size 16", "--image-size 28",
         "--image-size"), id="resume with another image size"),
    case(["--out", "{run}", *RESUME, "--dataset", "{logos}"], CHANGED.format("--dataset digits",
         "--dataset {logos}", "--dataset"), id="resume with another dataset"),
    case(["--out", "{noconfig}", *RESUME], "error: --resume: {noconfig} has no config.json, the run's settings, so it "
         "cannot go on as it was started; restore the file, or start afresh with --force", id="resume without config"),
    case(["--out", "{configdir}", *RESUME], "error: the run's settings {configdir}/config.json are not a file; "
         "restore config.json", id="config.json is a folder"),
    case(["--out", "{badtype}", *RESUME], 'error: {badtype}/config.json: batch_size should be an integer, but it is '
         '"16"; repair or restore the file', id="config value of the wrong type"),
    case(["--out", "{nullseed}", *RESUME], "error: {nullseed}/config.json: seed should be an integer, but it is null; "
         "repair or restore the file", id="config value null"),
    case(["--out", "{badloss}", *RESUME], "error: {badloss}/config.json: loss should be one of gan, minimax, hinge, "
         "wgan-gp, lsgan, but it is \"wgan\"; repair or restore the file", id="config value not among the choices"),
    case(["--out", "{newlines}", *RESUME], "error: {newlines}/run.json is not a gan_ignite run marker (unexpected "
         "content); this directory is not a run that can be resumed or replaced: choose another --out",
         id="run marker naming no module"),
    case(["--out", "{fewer}", *RESUME], "error: The run was trained on 64 images, but its data now has 32: the "
         "dataset or its settings changed since; restore them to continue the run, or start a new run",
         small=False, id="resume whose data changed under it"),
    case(["--out", "{zerolr}", *RESUME], "error: {zerolr}/config.json: log_interval should be a positive integer, but "
         "it is 0; repair or restore the file", id="config value out of range"),
    case(["--out", "{tbfile}", *RESUME], "error: {tbfile}/tb should be the run's folder of tb, but it is not a "
         "directory; move it away and resume", id="a run folder that is a file"),
    case(["--out", "{cutckpt}", *RESUME], INTEGRITY.format("{cutckpt}", "its bytes differ from the SHA-256 recorded "
         "when it was written"), id="truncated checkpoint"),
    case(["--out", "{flipped}", *RESUME], INTEGRITY.format("{flipped}", "its bytes differ from the SHA-256 recorded "
         "when it was written"), id="bit flipped in a checkpoint"),
    case(["--out", "{nosidecar}", *RESUME], INTEGRITY.format("{nosidecar}", "it has no .sha256 sidecar: its write "
         "did not finish"), id="checkpoint without its sidecar"),
    case(["--out", "{cutsigned}", *RESUME], CUT_OFF.format("{cutsigned}"), id="truncated checkpoint, sidecar matching"),
    case(["--out", "{cut1}", *RESUME], CUT_OFF.format("{cut1}"), id="checkpoint cut after byte 1"),
    case(["--out", "{cut3}", *RESUME], CUT_OFF.format("{cut3}"), id="checkpoint cut after byte 3"),
    case(["--out", "{crafted}", *RESUME], INTEGRITY.format("{crafted}", "its bytes differ from the SHA-256 recorded "
         "when it was written"), id="crafted checkpoint"),
    case(["--out", "{craftedsigned}", *RESUME], "error: Cannot read checkpoint "
         "{craftedsigned}/checkpoints/checkpoint_4.pt (it holds objects other than tensors and plain data, which are "
         "never unpickled: <any>); delete it to resume from an earlier one", id="crafted checkpoint, sidecar matching"),
    case(["--snapshot-iterations", "-1", "--out", "{tmp}/run"], "error: --snapshot-iterations should be zero or "
         "more, but given -1", id="negative snapshot iterations"),
]


def substitute(text, places):
    return re.sub(r"\{(\w+)\}", lambda m: str(places[m.group(1)]), text)


def expected_pattern(expected, places):
    parts = [re.escape(substitute(part, places)) for part in expected.split(ANY)]
    return "[^\n]*".join(parts) + "\n"


@pytest.fixture
def make_places(tmp_path, existing_run, monkeypatch):
    # $HOME and the working directory are the case's own: a `~` or relative path that
    # went astray would change them, and the fingerprint of tmp_path would show it.
    for folder in ("home", "cwd"):
        (tmp_path / folder).mkdir()
    (tmp_path / "home" / ".profile").write_text("mine")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path / "cwd")
    made = {"tmp": tmp_path, "run": existing_run}

    def make(texts):
        for name in sorted({m for t in texts for m in re.findall(r"\{(\w+)\}", t)} - set(made)):
            made[name] = PLACES[name](tmp_path, existing_run)
        return made

    yield make
    if "readonly" in made:
        made["readonly"].chmod(0o700)  # so that pytest can clean up


@pytest.mark.parametrize("module, args, expected, needs", CASES)
def test_bad_input_is_one_line_and_damages_nothing(module, args, expected, needs, make_places, existing_run,
                                                   tmp_path, capsys, caplog):
    assert len(CASES) >= 20
    places = make_places([*args, expected, *("{%s}" % name for name in needs)])
    argv = [substitute(a, places) for a in args]
    before = fingerprint(existing_run), fingerprint(tmp_path)
    capsys.readouterr()
    with caplog.at_level(logging.WARNING), pytest.raises(SystemExit) as exit_info:
        module.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert re.fullmatch(expected_pattern(expected, places), err), err
    # A real process would print records of this level on stderr (Python's last-resort handler).
    assert [r.getMessage() for r in caplog.records] == []
    assert (fingerprint(existing_run), fingerprint(tmp_path)) == before


def test_case_ids_are_distinct():
    ids = [c.id for c in CASES]
    assert len(set(ids)) == len(ids) >= 20


@pytest.mark.parametrize("preload", ["0", "1024"], ids=["decoded-by-workers", "decoded-before-training"])
def test_an_image_that_fails_only_when_decoded_stops_a_real_process_in_one_line(tmp_path, preload):
    # A JPEG cut in half passes the header check; the worker that decodes it fails, mid-run
    # (--preload-mb 0) or while the folder is decoded into memory before training.
    # As a real process: nothing but the error line on stderr (no Ignite log, no worker
    # traceback), and the process exits instead of waiting for its worker.
    folder = tmp_path / "images"
    folder.mkdir()
    pixels = torch.randint(0, 256, (32, 32, 3), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    for i in range(7):
        Image.fromarray(pixels.roll(i, 0).numpy()).save(folder / f"{i}.jpg")
    data = (folder / "6.jpg").read_bytes()
    (folder / "6.jpg").write_bytes(data[: len(data) * 2 // 3])  # headers intact, pixel data cut
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "experiments.gan_mnist", *SMALL, "--dataset", str(folder), "--batch-size", "7",
         "--num-workers", "1", "--preload-mb", preload, "--out", str(out)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,  # a hung exit fails here
    )
    assert result.returncode == 2
    assert re.fullmatch(
        rf"error: Cannot read image {re.escape(str(folder / '6.jpg'))} \(image file is truncated \([^()]*\)\); "
        r"remove or replace it\n",
        result.stderr,
    ), result.stderr
    if preload == "0":
        assert (out / "config.json").is_file()  # it failed in the run, not before it
        assert list((out / "checkpoints").iterdir()) == []
    else:
        assert not (out / "config.json").exists() and not (out / "checkpoints").exists()  # before the run
