"""Packaging for cadenza_hf.

One import root: the top-level folders ``modeling/`` and ``pipelines/`` are installed
*inside* the package as ``cadenza_hf.modeling`` and ``cadenza_hf.pipelines`` so that
no generic ``modeling``/``pipelines`` module lands in site-packages.

torch is a range that the local CPU wheel (2.13.0) satisfies. Install that wheel first
(``pip install torch==2.13.0``, see README) or pip pulls the newest CUDA build.
"""

from setuptools import setup

setup(
    name="cadenza_hf",
    version="0.1.0",
    description=(
        "PerTok tokenizer and the Cadenza composer/performer models, "
        "Hugging Face transformers-native"
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    packages=[
        "cadenza_hf",
        "cadenza_hf.data",
        "cadenza_hf.evaluation",
        "cadenza_hf.modeling",
        "cadenza_hf.modeling.composer",
        "cadenza_hf.modeling.performer",
        "cadenza_hf.pipelines",
    ],
    package_dir={
        "cadenza_hf": "cadenza_hf",
        "cadenza_hf.data": "cadenza_hf/data",
        "cadenza_hf.evaluation": "cadenza_hf/evaluation",
        "cadenza_hf.modeling": "modeling",
        "cadenza_hf.pipelines": "pipelines",
    },
    py_modules=["cadenza_cli"],
    package_data={"cadenza_hf": ["checkpoints/**/*"]},
    include_package_data=False,
    install_requires=[
        "torch>=2.4,<2.14",
        "transformers>=5.24,<5.25",
        "tokenizers>=0.22",
        "datasets>=4.0",
        "accelerate>=1.10",
        "huggingface-hub>=1.0",
        "miditok==3.1.0",
        "symusic>=0.5,<0.7",
        "numpy>=1.24",
        "tqdm",
    ],
    extras_require={
        "dev": ["pytest>=8", "music21>=9"],
        "plot": ["matplotlib"],
        # scripts/velocity_ceiling.py only: a score-feature regression, not part of the package
        "analysis": ["scikit-learn"],
    },
    # The console script lives outside the package so ``cadenza --help`` does not
    # import torch (see cadenza_cli.py).
    entry_points={"console_scripts": ["cadenza=cadenza_cli:main"]},
)
