"""The parameters each node executable of policy_node declares: `mtdagger.deployment.declarations`
(production code checks `rehearse --set` with it), under the names the tests import."""

from __future__ import annotations

from mtdagger.deployment.declarations import (  # noqa: F401 - re-exported for the tests
    IMPLICIT,
    NODE_DIR,
    PACKAGE_DIR,
    REPO,
    UNKNOWN,
    Declared,
    console_scripts,
    declared_by_node,
    module_file,
    node_source,
)
