/// `flushctl list` as the front runs it: the same pipeline as the flushctl command's
/// `ListCommand.list`, for the case where everything succeeds as root.
enum FrontList {
    /// The libndctl context of the listing, kept until the process exits.
    nonisolated(unsafe) private static var leaked: NdctlContext?

    /// The output of `request`, or `nil` when the flushctl program must answer it instead: a
    /// forced cache (`--cached`), a topology libndctl cannot read, an NFIT that cannot be read
    /// (not root: the cache and the note; absent or invalid: the note and the decoder's message),
    /// or a bad `-t`/`-m`. Nothing has been printed when it returns `nil`.
    static func text(_ request: ListRequest) -> String? {
        guard case .whenNFITUnreadable = request.cache else { return nil }
        guard let context = try? NdctlContext(), var topology = try? Topology.read(context: context) else { return nil }
        // The context is never released: the process ends right after printing, and tearing
        // down libndctl's object tree (ndctl_unref) is code `ndctl list` does not run either.
        leaked = context
        if request.options.resolved().needsFlushHints(on: topology) {
            guard let devices = NFITFlushHints.readDevicesIfValid() else { return nil }
            topology = topology.attachingFlushHints(devices: devices)
        }
        guard let listing = try? topology.listing(request.options) else { return nil }
        return listingText(listing, hasFlushHints: topology.hasFlushHints, json: request.json)
    }
}
