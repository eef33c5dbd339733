# `python -m train ...` and `accelerate launch -m train ...`
from train.cli import main

main()
