"""An interactive, tested lesson on pet-breed image classification, exported from the notebooks in `nbs/`."""
__version__ = "0.1.0"
