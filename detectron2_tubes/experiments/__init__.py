"""Experiments, apart from the model: the paper's recipe on the synthetic data (`recipe`: train,
evaluate, the thresholds tried, the quick configs) and its rehearsal along a researcher's path
(`rehearsal`: a stock Detectron2 keypoint R-CNN pretrained, inflated, fine-tuned). The demo,
``python -m tubes_cli.rehearse`` and the benches run them; nothing in the model imports them."""
