package unit

import (
	"strings"
	"testing"
)

// EnvironmentFile= syntax. Every case was read by systemd 252 (a unit with
// the file as its EnvironmentFile= printed its environment) and gave this.
func TestParseEnvFile(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		want       []string
	}{
		{"plain", "A=1\nB=2\n", []string{"A=1", "B=2"}},
		{"blanks around key and value go", "  B = spaced value  \n\tC\t=\tx\t\n", []string{"B=spaced value", "C=x"}},
		{"comments", "# c\n  ; c\nA=1 # not a comment\n", []string{"A=1 # not a comment"}},
		{"export is not supported", "export A=1\nB=2\n", []string{"B=2"}},
		{"invalid names are dropped", "=x\nO.P=1\nQ-R=1\n9A=1\nNOEQUALS\nOK=1\n", []string{"OK=1"}},
		{"empty values", "N=\nM=\"\"\n", []string{"N=", "M="}},
		{"single quotes are literal", `D='single \n $x "q"'` + "\n", []string{`D=single \n $x "q"`}},
		{"double quotes: \\ escapes only \" \\ ` $", `E="dq \"q\" \\ \$x \n \a \` + "`" + `"` + "\n", []string{`E=dq "q" \ $x \n \a ` + "`"}},
		{"unquoted: a backslash takes the next character", `L=\"esc\" back\\slash a\ b` + "\n", []string{`L="esc" back\slash a b`}},
		{"an escaped trailing blank stays", "V=x\\ \n", []string{"V=x "}},
		{"quotes count only where a value starts", "J=x\"y\"z\nK=it's\nS=\"ab\"cd \"ef\"\nU='a'b 'c'\n", []string{`J=x"y"z`, "K=it's", `S=abcd "ef"`, "U=ab 'c'"}},
		{"blanks after a closing quote go", "T=  \"q\"  \n", []string{"T=q"}},
		{"backslash-newline joins lines", "F=unquoted\\\ncontinued\nBB=\"x\\\ny\"\nCC=a\\\n   b\n", []string{"F=unquotedcontinued", "BB=xy", "CC=a   b"}},
		{"a quoted newline is kept", "G=\"multi\nline\"\n", []string{"G=multi\nline"}},
		{"a comment ending in a backslash swallows the next line (systemd 252)", "#comment \\\nM=1\nN=2\n", []string{"N=2"}},
		{"an unterminated quote runs to the end", "Y=\"unterminated\nZ=1\n", []string{"Y=unterminated\nZ=1\n"}},
		{"no newline at the end", "AA=last", []string{"AA=last"}},
		{"a later assignment wins, in the first one's place", "A=1\nB=2\nA=3\n", []string{"A=3", "B=2"}},
		{"CRLF", "A=1\r\nB=2\r\n", []string{"A=1", "B=2"}},
		{"a NUL ends the file", "A=1\nB=2\x00C=3\n", []string{"A=1", "B=2"}},
		{"kubeadm-flags.env", `KUBELET_KUBEADM_ARGS="--node-ip=10.0.0.10 --hostname-override=x"` + "\n", []string{"KUBELET_KUBEADM_ARGS=--node-ip=10.0.0.10 --hostname-override=x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseEnvFile([]byte(tc.file))
			if err != nil {
				t.Fatal(err)
			}
			same(t, "env", got, tc.want)
		})
	}
	if _, err := ParseEnvFile([]byte("A=\xff\n")); err == nil || !strings.Contains(err.Error(), "UTF-8") {
		t.Errorf("ParseEnvFile with invalid UTF-8 = %v, want an error (systemd refuses the file)", err)
	}
}

// Which value a command sees when several places set a variable.
func TestEnvPrecedence(t *testing.T) {
	root := host(t, map[string]string{
		"/etc/systemd/system/x.service": `[Service]
EnvironmentFile=/etc/first.env
Environment=P=environment Q=environment
EnvironmentFile=-/etc/default/x.d/*.env
EnvironmentFile=-/etc/missing.env
EnvironmentFile=-/etc/missing.d/*.env
Environment=R=environment
ExecStart=/bin/echo $P $Q $R $A $B $M
`,
		"/etc/first.env":                         "P=file\nA=first\n",
		"/etc/default/x.d/10.env":                "A=ten\nB=ten\n",
		"/etc/default/x.d/20.env":                "B=twenty\n",
		"/etc/default/x.d/.30.env":               "B=hidden\n",
		"/etc/default/x.d/05.env":                "A=five\n",
		"/etc/systemd/system/x.service.d/y.conf": "[Service]\nEnvironment=R=drop-in\n",
	})
	u := load(t, root, "x.service")
	env, err := u.Env(root, []string{"M=manager", "P=manager", "bad name=1"})
	if err != nil {
		t.Fatal(err)
	}
	// base < Environment= < files, wherever the lines stand; of two files
	// the later wins, a glob's matches in name order, dot files unmatched.
	same(t, "env", env, []string{"M=manager", "P=file", "Q=environment", "R=drop-in", "A=ten", "B=twenty"})
	same(t, "argv", u.ExecStart[0].Argv(env), []string{"/bin/echo", "file", "environment", "drop-in", "ten", "twenty", "manager"})

	// "Environment=" with no value forgets what came before it.
	add(t, root, "/etc/systemd/system/x.service.d/z.conf", "[Service]\nEnvironment=\nEnvironment=Z=1\nEnvironmentFile=\n")
	u = load(t, root, "x.service")
	same(t, "after resets, Environment", u.Environment, []string{"Z=1"})
	same(t, "after resets, EnvironmentFiles", u.EnvironmentFiles, []EnvFile(nil))
}
