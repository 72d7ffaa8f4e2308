// FlushHint: the host library. Topology through libndctl (Topology.swift, TopologyReader.swift,
// Ndctl/), flush hints joined to DIMMs and grouped into pages (FlushHintJoin.swift), the NFIT
// read (NFITSource.swift), ndctl-style selection for `flushctl list` (ListQuery.swift).
