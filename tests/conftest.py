"""Root test configuration: no telemetry, fake AWS credentials, a fixed region."""

from __future__ import annotations

import os
import tempfile

os.environ["NML_DISABLE_USAGE_LOGGING"] = "1"
# Spin-waiting OpenMP threads made repeated LightGBM (DLE) fits in one process crawl on a busy machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"  # moto's fake credentials
os.environ["AWS_SECURITY_TOKEN"] = "testing"
os.environ["AWS_SESSION_TOKEN"] = "testing"
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "ModelWatch")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "modelwatch")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_DEV", "false")
# Where `modelwatch local up` registers running stacks: never the developer's own (~/.modelwatch/local).
os.environ["MODELWATCH_LOCAL_HOME"] = os.path.join(tempfile.mkdtemp(prefix="modelwatch-local-"), "local")
