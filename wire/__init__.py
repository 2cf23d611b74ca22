"""The wire objects server and SDK share: each defined once, as a frozen pydantic model.

Routes take and return them (the OpenAPI is generated from them), the SDK builds and
reads them, and rows become responses through ``model_validate(row)``.
"""

from blindsum.wire.custody import (
    ContributionPublic,
    DecryptionRequestPublic,
    KeyCommitmentMessage,
    KeyConfirmationMessage,
    RoundKeyPublic,
    SetVoteMessage,
)
from blindsum.wire.dp_event import EVENT_FIELDS, DPEvent
from blindsum.wire.federations import (
    ClientDPSpec,
    ClientPublic,
    CustodianEnrollRequest,
    CustodianEnrollResponse,
    CustodianPublic,
    EnrollRequest,
    EnrollResponse,
    FederationCreate,
    FederationPublic,
    InviteCreate,
    InvitePublic,
    ParameterSpec,
    UpdateRuleSpec,
)
from blindsum.wire.protocols import (
    CkksProtocol,
    DistributedDP,
    Protocol,
    SecAggProtocol,
    announced,
)
from blindsum.wire.rounds import DPEventReport, LedgerRecorded, RoundPublic, UploadAccepted
from blindsum.wire.types import SIGNATURE_PATTERN

__all__ = ["EVENT_FIELDS", "SIGNATURE_PATTERN", "CkksProtocol", "ClientDPSpec", "ClientPublic",
           "ContributionPublic", "CustodianEnrollRequest", "CustodianEnrollResponse",
           "CustodianPublic", "DecryptionRequestPublic", "KeyCommitmentMessage",
           "KeyConfirmationMessage", "RoundKeyPublic", "SetVoteMessage",
           "DPEvent", "DistributedDP", "Protocol", "SecAggProtocol", "announced",
           "DPEventReport", "EnrollRequest", "EnrollResponse", "FederationCreate",
           "FederationPublic", "InviteCreate", "InvitePublic", "LedgerRecorded",
           "ParameterSpec", "RoundPublic", "UpdateRuleSpec", "UploadAccepted"]
