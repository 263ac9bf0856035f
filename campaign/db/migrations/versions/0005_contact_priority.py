"""contacts.priority: higher is called first among contacts due now

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 11:40:00
"""

from alembic import op
import sqlalchemy as sa

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        'contacts', sa.Column('priority', sa.Integer(), server_default='0', nullable=False)
    )


def downgrade() -> None:
    op.drop_column('contacts', 'priority')
