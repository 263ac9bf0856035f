"""`python -m campaign`: the same as the `campaign` console script."""

from campaign.cli import main

main()
