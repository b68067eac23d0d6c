// Package unit reads systemd service units the way systemd 252 (Debian
// bookworm) reads them, for the lab's stand-in service manager: where a unit
// and its drop-ins are found, what each line means, which environment a
// command gets and which argv it becomes.
//
// The stand-in exists to rehearse a bundle without a real systemd, so the
// rehearsal is only worth something if a unit means here what it means on a
// host. The rules come from systemd's manual pages (systemd.syntax(7),
// systemd.unit(5), systemd.service(5), systemd.exec(5), systemd.time(7)) and
// its source; where the manual is silent or wrong (quotes inside a word,
// what a failed line in a drop-in does, the 252 rule for comments in
// environment files), systemd 252 itself was run on the same files, and the
// tests that pin those cases say so.
//
// Load finds and parses a unit; Unit.Env computes a command's environment
// from Environment= and EnvironmentFile= at start time, as systemd does; and
// Command.Argv expands $VAR and ${VAR} in a command line; CheckConditions
// evaluates the path conditions. Settings the package does not model are
// never an error: each one is kept in Unit.Ignored with its file and line,
// so the caller can say what the rehearsal leaves out.
//
// Left out: units other than services, generators and transient units,
// the manager's configuration (system.conf: the defaults here are
// systemd's built-in ones), conditions that ask about the machine rather
// than its files, and every setting that only sandboxes or limits a process.
package unit
