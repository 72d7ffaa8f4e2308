// Placeholder: the NFIT codec is being written (issue 2).
public enum NFITPlaceholder {}
