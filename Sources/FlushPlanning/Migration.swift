// Migration, save and dump of a guest: what each method allows, and how a stock QEMU is made
// to refuse what is unsafe. Established with QEMU 10.0.2 under KVM in the emulated host
// (Tests/HostTests/GuestMigrationTests.swift) and QEMU's source; docs/vmm-integration.md,
// "Migration, save and dump".

/// Whether a guest planned with a method may be migrated, saved (a snapshot or a migration to
/// a file) and dumped, and what makes that safe or refuses it.
public struct MigrationPolicy: Sendable, Equatable {
    /// Whether the guest may be migrated or saved at all.
    public var migratable: Bool
    /// Why, in one sentence.
    public var reason: String
    /// What must never be done to the guest, when something must not (one sentence).
    public var requirement: String?
    /// What the destination of a migration (or the restore of a saved state) needs, when the
    /// guest may be migrated.
    public var destination: String?
    /// How the VMM's command line makes it refuse migration and save (``QemuRecipe`` only).
    public var refusedBy: String?
    /// What that refusal does not cover and stays a requirement (``QemuRecipe`` only).
    public var notRefused: String?

    /// The policy of a plan's method, for any VMM.
    public static func of(_ method: PlanMethod) -> MigrationPolicy {
        switch method {
        case .passthrough:
            return MigrationPolicy(
                migratable: false,
                reason: "the guest's hint pages are the host's flush-hint MMIO pages mapped as guest RAM: migration, save and dump read them, and loading a migration stream or saved state writes the saved bytes over the destination's whole page, registers the NFIT does not describe included",
                requirement: "Never migrate, save, snapshot or dump this guest, and never load a saved state into it.")
        case .none, .deepFlush:
            return MigrationPolicy(
                migratable: false,
                reason: "the pmem is a DAX device or file mapped as guest memory, which migration copies like RAM: the destination (or a restore) writes it with CPU stores that QEMU need not write back (migration/ram.c ram_load_cleanup syncs only memory regions marked non-volatile, which a pc-dimm's is not: a QEMU 10.0.2 destination made no msync of the file-backed memory it loaded), so data the guest flushed before could be lost on the destination's power failure, and a restore rolls the persistent memory back; not shown safe",
                requirement: "Never migrate, save or snapshot this guest, and never load a saved state into it.")
        case .fsync:
            return MigrationPolicy(
                migratable: true,
                reason: "the backend is a file the guest reaches through the host's page cache, migrated like any file-backed guest memory; nothing of the host's NVDIMM hardware is mapped into the guest",
                destination: "the same file at the same path and size (shared storage, or a copy); QEMU sends the file's pages in the migration stream and the destination writes them through its mapping without msync or fsync (QEMU 10.0.2), so unless the file is shared storage already holding them, start the destination paused (-S), fsync the file (sync FILE) once the incoming migration completed, then continue it.")
        }
    }
}

extension Plan {
    /// Whether the guest may be migrated, saved or dumped (``MigrationPolicy/of(_:)``).
    public var migration: MigrationPolicy { MigrationPolicy.of(method) }
}

/// The QEMU options that make a stock QEMU refuse to migrate or save a guest: an ivshmem-plain
/// device in peer mode (`master=off`) on a 4 KiB RAM backend. Its realize registers a migration
/// blocker (hw/misc/ivshmem.c `ivshmem_common_realize`), which QEMU's `migrate` checks for every
/// URI (`migrate_prepare` → `migration_is_blocked`, file: and exec: included), as do `savevm`
/// and `snapshot-save` (migration/savevm.c `save_snapshot`); `query-migrate` lists it in
/// `blocked-reasons`, which libvirt 8.5 or later asks before it migrates. `dump-guest-memory`
/// has no such check (dump/dump.c). A QEMU started with `-only-migratable` refuses the device.
public enum MigrationBlocker {
    /// The error QEMU answers `migrate`, `savevm` and `snapshot-save` with.
    public static let message = "Migration is disabled when using feature 'peer mode' in device 'ivshmem'"
    /// The options, one argument per element.
    public static let arguments = ["-object", "memory-backend-ram,id=nomig,size=4096",
                                   "-device", "ivshmem-plain,id=nomig0,memdev=nomig,master=off"]

    /// The recipe's policy: the plan's, with how QEMU refuses it.
    static func policy(for method: PlanMethod) -> MigrationPolicy {
        var policy = MigrationPolicy.of(method)
        guard !policy.migratable else { return policy }
        policy.refusedBy = "qemu_args add ivshmem-plain nomig0 in peer mode (master=off), a PCI device without a guest driver whose migration blocker makes QEMU refuse migrate (any URI, file: and exec: included), savevm and snapshot-save with \"\(message)\", and so libvirt's migrate, save and managedsave, which run QEMU's migrate (libvirt 11.3 refuses virsh save with \"cannot migrate domain: \(message)\"; flushctl qemu --libvirt carries the device as libvirt's own <shmem role='peer'>); a QEMU started with -only-migratable refuses to start the guest."
        if method == .passthrough {
            policy.notRefused = "dump-guest-memory (libvirt: virsh dump --memory-only) has no migration check and reads the hint pages: never dump this guest."
        }
        return policy
    }
}
