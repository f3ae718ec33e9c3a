"""Alerts to the creator, before learners notice: incidents found, told once, cleared once.

``find_conditions`` says what is wrong now (dead write-backs, the shop's webhooks disabled or
pointing elsewhere, a sync job failing N times in a row, an unmapped SKU sold, an upcoming
cohort filling up, the credential signing key missing), each under a stable key;
``check_alerts`` opens one incident per new key, clears those whose condition is gone, and
sends each opening and each clearing once to every configured channel (SMTP e-mail, a
Slack-compatible chat webhook; ``channels``), plus a daily digest when asked;
``send_test_alert`` proves the channels work. Messages carry counts, codes and fixes, never a
secret or a learner's personal data.

Other features, webhooks/, sync/ and bridge/cli/ import the names below from this package, never
one of its modules.
"""

from bridge.services.alerts.channels import ChannelError, deliver
from bridge.services.alerts.conditions import Condition, find_conditions
from bridge.services.alerts.incidents import (
    AlertRun,
    check_alerts,
    incident_data,
    list_incidents,
    send_test_alert,
)

__all__ = [
    "AlertRun",
    "ChannelError",
    "Condition",
    "check_alerts",
    "deliver",
    "find_conditions",
    "incident_data",
    "list_incidents",
    "send_test_alert",
]
