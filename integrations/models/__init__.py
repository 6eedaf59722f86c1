"""Integration models, one module per concern. Each module lists its public names in __all__."""

from integrations.models.activity import *  # noqa: F403
from integrations.models.connection import *  # noqa: F403
from integrations.models.health import *  # noqa: F403
from integrations.models.integration import *  # noqa: F403
from integrations.models.oauth_state import *  # noqa: F403
from integrations.models.version import *  # noqa: F403
