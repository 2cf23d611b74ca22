"""Federation and round logic, accumulators, privacy ledger and storage (issue 4)."""
