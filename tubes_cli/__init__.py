"""The commands, each a thin layer of argument parsing and messages over the libraries
(`detectron2_tubes`, `posetrack_core`), all run inside one error boundary (`boundary`).

    python -m tubes_cli.demo               the whole job on the built-in synthetic data
    python -m tubes_cli.train_net          train or evaluate (also ``python train_net.py``)
    python -m tubes_cli.track_video        track people in videos with a trained model
    python -m tubes_cli.export             export a model to TorchScript or ONNX
    python -m tubes_cli.eval_posetrack     PoseTrack metrics of prediction files
    python -m tubes_cli.eval_mot           MOTChallenge box metrics of MOT files
    python -m tubes_cli.link               add track ids to saved per-frame detections
    python -m tubes_cli.sweep_thresholds   re-tune the thresholds on saved detections
    python -m tubes_cli.rehearse           the paper's recipe, shortened, on the synthetic data
    python -m tubes_cli.synthetic          generate the synthetic PoseTrack set
    python -m tubes_cli.export_coco        write a dataset's frames as COCO keypoint JSON
    python -m tubes_cli.train_lstm         train the learned LSTM tracking cost

Importing this package, or a command that only reads files (eval_posetrack, eval_mot, link),
imports neither torch nor Detectron2; the others import them when they run.
"""
