"""Write a registered dataset's labelled frames as a COCO keypoint JSON of single images
(2D pretraining data for the same trainer; register it with register_coco_keypoints).

    python -m tubes_cli.export_coco --dataset posetrack_synth_train --output train.json
"""

import os
import sys
from typing import List, Optional

from posetrack_core.errors import UserError
from posetrack_core.io import check_output_files

from .boundary import run_command, tool_parser


def _under(path: str, root: str) -> bool:
    return os.path.commonpath([os.path.abspath(path), os.path.abspath(root)]) == os.path.abspath(
        root
    )


def main(argv: Optional[List[str]] = None) -> int:
    return run_command("export_coco", lambda: _main(argv))


def _main(argv) -> int:
    from detectron2.data import DatasetCatalog, MetadataCatalog

    from detectron2_tubes.data import export_coco_keypoints

    parser = tool_parser("export_coco", __doc__)
    parser.add_argument("--dataset", required=True, help="a registered dataset name")
    parser.add_argument("--output", required=True, help="the JSON file to write")
    parser.add_argument(
        "--image-root",
        default="",
        help="file names are written relative to it (default: " "the folder all the frames share)",
    )
    args = parser.parse_args(argv)
    if args.dataset not in DatasetCatalog.list():
        parser.error(f"dataset '{args.dataset}' is not registered")
    check_output_files([args.output], overwrite=True)  # before the work, not after it
    frames = DatasetCatalog.get(args.dataset)
    root = args.image_root or os.path.commonpath([f["file_name"] for f in frames])
    outside = [f["file_name"] for f in frames if not _under(f["file_name"], root)]
    if outside:
        raise UserError(
            f"--image-root {root}: {len(outside)} frames are not under it (e.g. {outside[0]}); "
            f"give a folder that holds every frame"
        )
    export_coco_keypoints(
        frames, args.output, root, MetadataCatalog.get(args.dataset).keypoint_names
    )
    print(f"Wrote {args.output}; image root {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
