// FlushHint: the host library. Topology through libndctl (Topology.swift, TopologyReader.swift,
// Ndctl/), flush hints joined to DIMMs and grouped into pages (FlushHintJoin.swift), the NFIT
// read (NFITSource.swift), one snapshot of all of it (HostSnapshot.swift), ndctl-style selection
// for `flushctl list` (ListQuery.swift); host facts, checks, plans, mapping, flushing and the
// QEMU recipe (Planning/); the topology cache (Cache/); and the JSON of list and plan (JSON/).
// `flushctl bench`'s measurement is the FlushBench target, which only the command links.
