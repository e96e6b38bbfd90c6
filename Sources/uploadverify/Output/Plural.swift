/// "1 chunk", "3 chunks": a count with its noun, for the lines people read.
func counted(_ count: Int, _ noun: String) -> String {
    "\(count) \(noun)\(count == 1 ? "" : "s")"
}
