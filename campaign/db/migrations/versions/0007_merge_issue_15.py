"""merge the issue-15 branches: dispositions (0006a), events outbox (0006b), priority and callers (0006c)

Revision ID: 0007
Revises: 0006a, 0006b, 0006c
Create Date: 2026-11-29 12:10:00
"""

revision = '0007'
down_revision = ('0006a', '0006b', '0006c')
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
