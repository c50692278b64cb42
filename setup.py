from setuptools import find_packages, setup

setup(
    name="detectron2_tubes",
    version="0.1.0",
    description="Detect-and-Track (CVPR 2018) video pose estimation and tracking for Detectron2",
    long_description=open("README.md").read(),
    long_description_content_type="text/markdown",
    # configs/ installs as detectron2_tubes/configs (package data), so that
    # detectron2_tubes.model_zoo.get_config_file and the demo work outside a checkout.
    # detectron2_tubes: the model in Detectron2; posetrack_core: formats, metrics and tracker
    # without torch; tubes_cli: the commands.
    packages=find_packages(include=["detectron2_tubes*", "posetrack_core*", "tubes_cli*"])
    + ["detectron2_tubes.configs"],
    package_dir={"detectron2_tubes.configs": "configs"},
    package_data={"detectron2_tubes.configs": ["*.yaml", "*/*.yaml"]},
    python_requires=">=3.10",
    # Detectron2 itself is not on PyPI; `make install` (scripts/install.sh) installs it.
    install_requires=[
        "torch",
        "torchvision",
        # numpy 1.26 and 2.x, OpenCV 4.x and 5.x: no upper pins (tested: doc/install.md).
        "numpy>=1.26",
        "opencv-python>=4.8",
        "scipy",
        # HOTA/IDF1 of box tracks: 1.3.0 for numpy 2; 1.0.0 is the last for numpy 1 (Python < 3.12)
        "trackeval>=1.0.0",
        "pycocotools",
        "fvcore",
        "iopath",
        "tqdm",
        "filelock",
    ],
    # ONNX export (python -m tubes_cli.export --format onnx) checks and runs with onnxruntime.
    extras_require={"onnx": ["onnx", "onnxruntime"], "dev": ["pytest", "onnx", "onnxruntime"]},
)
