import ArgumentParser
// Placeholder: being written (issue 3).
struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List NVDIMM topology with flush hints (not yet written).")
    func run() throws { throw ExitCode(2) }
}
