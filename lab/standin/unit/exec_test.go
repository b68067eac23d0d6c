package unit

import (
	"testing"
)

// parse parses one command line of a unit named x.service, failing the
// test on error.
func parse(t *testing.T, line string) []Command {
	t.Helper()
	cmds, err := parseCommands(line, &specifiers{root: "/", name: "x.service"}, func(string) {})
	if err != nil {
		t.Fatalf("parseCommands(%q): %v", line, err)
	}
	return cmds
}

// Command line expansion, systemd.service(5) "Command lines". The first two
// cases are the manual's own examples; every case was run through systemd
// 252 (a unit whose ExecStart= wrote its argv to a file) and gave this argv.
func TestArgv(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
		line string
		want []string
	}{{
		name: "manual, first example",
		env:  []string{"ONE=one", "TWO=two two"},
		line: `/bin/echo $ONE $TWO ${TWO}`,
		want: []string{"/bin/echo", "one", "two", "two", "two two"},
	}, {
		name: "manual, second example: quotes in values",
		env:  []string{"ONE='one'", "TWO='two two' too", "THREE="},
		line: `/bin/echo ${ONE} ${TWO} ${THREE} $ONE $TWO $THREE`,
		want: []string{"/bin/echo", "'one'", "'two two' too", "", "one", "two two", "too"},
	}, {
		name: "unset: $X is no word, ${X} an empty one",
		line: `/bin/echo a $UNSET ${UNSET} b`,
		want: []string{"/bin/echo", "a", "", "b"},
	}, {
		name: "set but empty: no word either",
		env:  []string{"EMPTY=", "BLANK=   "},
		line: `/bin/echo $EMPTY $BLANK .`,
		want: []string{"/bin/echo", "."},
	}, {
		name: "$X inside a word is not expanded, ${X} is",
		env:  []string{"ONE=one"},
		line: `/bin/echo x$ONE x${ONE}y ${ONE}${ONE} --a=${ONE}`,
		want: []string{"/bin/echo", "x$ONE", "xoney", "oneone", "--a=one"},
	}, {
		name: "a whole word $X-y names the variable X-y, which is never set",
		env:  []string{"ONE=one"},
		line: `/bin/echo $ONE-x $ .`,
		want: []string{"/bin/echo", "."},
	}, {
		name: "quoting the word does not stop splitting",
		env:  []string{"TWO=two two"},
		line: `/bin/echo "$TWO" '${TWO}'`,
		want: []string{"/bin/echo", "two", "two", "two two"},
	}, {
		name: "$$ is a dollar, shell forms are left alone",
		env:  []string{"ONE=one"},
		line: `/bin/echo $$ONE $$ a$$b ${ONE:-d} ${ONE ${A B}`,
		want: []string{"/bin/echo", "$ONE", "$", "a$b", "${ONE:-d}", "${ONE", "${A", "B}"},
	}, {
		name: "splitting a value: quotes group, a backslash takes the next character",
		env:  []string{`V=a\ b 'c d' "e\"f" g\n`},
		line: `/bin/echo $V`,
		want: []string{"/bin/echo", "a b", "c d", `e"f`, "gn"},
	}, {
		name: "an unbalanced quote in a value runs to its end",
		env:  []string{`V=--a="x y --b`},
		line: `/bin/echo $V`,
		want: []string{"/bin/echo", "--a=x y --b"},
	}, {
		name: "quoting and C escapes in the line",
		line: `/bin/echo "a b" 'c d' a"b c"d "a\tb" 'a\tb' \x41 \101 \u00e9 'it''s' \s`,
		want: []string{"/bin/echo", "a b", "c d", "ab cd", "a\tb", "a\tb", "A", "A", "é", "its", " "},
	}, {
		name: "an unknown escape is kept",
		line: `/bin/grep \d+`,
		want: []string{"/bin/grep", `\d+`},
	}, {
		name: "a lone \\; is an argument, ; inside a word or quoted is text",
		line: `/bin/echo a \; b ";" c;d`,
		want: []string{"/bin/echo", "a", ";", "b", ";", "c;d"},
	}, {
		name: "specifiers are resolved when the unit is loaded, before $",
		env:  []string{"N=var"},
		line: `/bin/echo %n %N %% %%n $N`,
		want: []string{"/bin/echo", "x.service", "x", "%", "%n", "var"},
	}, {
		name: "argv[0] is expanded too",
		env:  []string{"NAME=daemon"},
		line: `@/usr/sbin/d ${NAME} -f`,
		want: []string{"daemon", "-f"},
	}, {
		name: "the : prefix turns expansion off",
		env:  []string{"ONE=one"},
		line: `:/bin/echo $ONE ${ONE} $$`,
		want: []string{"/bin/echo", "$ONE", "${ONE}", "$$"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			cmds := parse(t, tc.line)
			if len(cmds) != 1 {
				t.Fatalf("%d commands, want 1", len(cmds))
			}
			same(t, "argv", cmds[0].Argv(tc.env), tc.want)
		})
	}
}

func TestCommandPrefixes(t *testing.T) {
	for _, tc := range []struct {
		line string
		want Command
	}{
		{"/bin/true", Command{Path: "/bin/true", Args: []string{"/bin/true"}}},
		{"-/bin/true", Command{Path: "/bin/true", Args: []string{"/bin/true"}, IgnoreFailure: true}},
		{"@/bin/true x", Command{Path: "/bin/true", Args: []string{"x"}, OverrideArgv0: true}},
		{":/bin/true", Command{Path: "/bin/true", Args: []string{"/bin/true"}, NoEnvExpand: true}},
		{"+/bin/true", Command{Path: "/bin/true", Args: []string{"/bin/true"}, FullPrivileges: true}},
		{"!/bin/true", Command{Path: "/bin/true", Args: []string{"/bin/true"}, NoSetuid: true}},
		{"!!/bin/true", Command{Path: "/bin/true", Args: []string{"/bin/true"}, AmbientFallback: true}},
		{"-@:/bin/true x", Command{Path: "/bin/true", Args: []string{"x"}, IgnoreFailure: true, OverrideArgv0: true, NoEnvExpand: true}},
		// A bare name is looked up in ExecSearchPath when run; the path
		// is simplified, argv[0] kept as written.
		{"true", Command{Path: "true", Args: []string{"true"}}},
		{"//usr/./bin//true", Command{Path: "/usr/bin/true", Args: []string{"//usr/./bin//true"}}},
	} {
		got := parse(t, tc.line)
		same(t, tc.line, got, []Command{tc.want})
	}
	// "+" and "!" exclude each other: the second is part of the path.
	if _, err := parseCommands("+!/bin/true", &specifiers{name: "x.service"}, func(string) {}); err == nil {
		t.Error(`"+!/bin/true" parsed; its path "!/bin/true" is not absolute`)
	}
	// Several commands on one line, for Type=oneshot.
	cmds := parse(t, "/bin/a 1 ; /bin/b 2 ;")
	same(t, "commands", len(cmds), 2)
	same(t, "second", cmds[1].Args, []string{"/bin/b", "2"})
}

func TestExpand(t *testing.T) {
	u := &Unit{Name: "haproxy.service"}
	got, err := u.Expand(`/usr/sbin/haproxy -f $CONFIG $EXTRAOPTS %n`, []string{"CONFIG=/etc/haproxy/haproxy.cfg", "EXTRAOPTS=-S /run/haproxy-master.sock"})
	if err != nil {
		t.Fatal(err)
	}
	same(t, "argv", got, []string{"/usr/sbin/haproxy", "-f", "/etc/haproxy/haproxy.cfg", "-S", "/run/haproxy-master.sock", "haproxy.service"})
	if _, err := u.Expand(`/bin/echo "unbalanced`, nil); err == nil {
		t.Error("Expand accepted an unbalanced quote")
	}
	if _, err := u.Expand(`/bin/a ; /bin/b`, nil); err == nil {
		t.Error("Expand accepted two commands")
	}
}
