import CNdctl
import NFIT
// Placeholder: the host library is being written (issue 3).
public enum FlushHintPlaceholder {}
