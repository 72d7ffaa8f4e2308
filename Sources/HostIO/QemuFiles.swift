import FlushPlanning
import HostFiles

extension QemuRecipe {
    /// Writes the recipe's files (``files``: the guest NFIT, its SSDT, qemu.args) durably into
    /// `directory`, made if missing (mode 0755), replacing earlier ones; returns their paths.
    ///
    /// The directory must be one only root or the caller controls (``DirectoryTrust/ownerOnly``):
    /// qemu.args is the argument list of a QEMU often run as root, so whoever else could write
    /// there could choose what it maps, /dev/mem included.
    public func write(to directory: String) throws(OutputFileError) -> [(key: String, path: String)] {
        let dir = try Self.open(directory)
        for file in files { try dir.writeRegularFile(file.name, file.bytes, overwrite: true) }
        return files.map { ($0.key, dir.pathOf($0.name)) }
    }

    private static func open(_ directory: String) throws(OutputFileError) -> DurableDirectory {
        do { return try DurableDirectory(path: directory, trust: .ownerOnly, create: true) } catch { throw .io(error) }
    }
}
