"""posetrack_core: PoseTrack without a deep-learning framework (numpy, scipy, OpenCV).

- `posetrack_core.posetrack_json`, `posetrack_core.keypoints`: the file formats (PoseTrack
  2017, 2018 and 2021 JSON) and the joint orders.
- `posetrack_core.evaluation`: the official metrics (per-joint AP and MOTA as poseval computes
  them, PoseTrack21's keypoint HOTA, TrackEval's box metrics) and the PoseTrack writer.
- `posetrack_core.tracking`: the tracker (per-frame detections to tracks) and its costs.
- `posetrack_core.settings`, `io`, `errors`: the tracker's settings, safe output writing and the
  errors a user can fix.

`detectron2_tubes` (the model, in Detectron2) builds on it; the commands that only read files
(`python -m tubes_cli.eval_posetrack`, `eval_mot`, `link`) use it alone, without importing torch.
"""

__version__ = "0.1.0"
