import ArgumentParser

extension Flushctl {
    /// Every verb, in the order `flushctl --help` lists them.
    static let subcommandTypes: [ParsableCommand.Type] = [
        NFITCommand.self,
        ListCommand.self,
        CheckCommand.self,
        PlanCommand.self,
        QemuCommand.self,
        FlushCommand.self,
        RefreshCommand.self,
        BenchCommand.self,
    ]
}
