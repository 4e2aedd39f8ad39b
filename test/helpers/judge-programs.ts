/**
 * One judge program per language of the full image, for the integration tiers that judge
 * every language (test/integration/judging.test.ts through /v1/execute,
 * test/integration/judge0.test.ts through /judge0). The program reads a command on stdin:
 * `double N` prints 2N, `crash` prints "before" then fails as the language does (an
 * exception, a panic, abort), `spin` loops on the CPU, `sleep` prints "slept" after 1.5 s,
 * `hog` keeps 200 MiB. `broken` is a source that does not build: a compile error in a
 * compiled language, an error when run in an interpreted one.
 */
export interface JudgeProgram {
  judge: string;
  broken: string;
}

export const JUDGE_PROGRAMS: Record<string, JudgeProgram> = {
  python: {
    judge: "import sys, time\nw = sys.stdin.read().split()\nc = w[0]\nif c == 'double': print(2 * int(w[1]))\nelif c == 'crash':\n    print('before', flush=True)\n    raise ValueError('bad')\nelif c == 'spin':\n    while True: pass\nelif c == 'sleep':\n    time.sleep(1.5)\n    print('slept')\nelif c == 'hog':\n    b = b'x' * (200 << 20)\n    print('hogged')\n",
    broken: 'print("x"',
  },
  javascript: {
    judge:
      "const w = require('fs').readFileSync(0, 'utf8').trim().split(/\\s+/);\nif (w[0] === 'double') console.log(2 * Number(w[1]));\nelse if (w[0] === 'crash') { process.stdout.write('before\\n'); throw new Error('bad'); }\nelse if (w[0] === 'spin') { for (;;) {} }\nelse if (w[0] === 'sleep') setTimeout(() => console.log('slept'), 1500);\nelse if (w[0] === 'hog') { const b = new Uint8Array(200 * 1024 * 1024).fill(1); console.log(b[4096] === 1 ? 'hogged' : ''); }\n",
    broken: 'console.log((',
  },
  bash: {
    judge: 'read -r c n\ncase $c in\n  double) echo $((2 * n)) ;;\n  crash) echo before; exit 3 ;;\n  spin) while :; do :; done ;;\n  sleep) sleep 1.5; echo slept ;;\n  hog) s=x; for i in $(seq 28); do s=$s$s; done; echo hogged ;;\nesac\n',
    broken: 'if then fi',
  },
  c: {
    judge:
      '#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include <unistd.h>\nint main(void){char c[16]={0};long n=0;if(scanf("%15s",c)!=1)return 2;\nif(!strcmp(c,"double")){if(scanf("%ld",&n)!=1)return 2;printf("%ld\\n",2*n);}\nelse if(!strcmp(c,"crash")){puts("before");fflush(stdout);abort();}\nelse if(!strcmp(c,"spin")){volatile unsigned long i=0;for(;;)i++;}\nelse if(!strcmp(c,"sleep")){usleep(1500000);puts("slept");}\nelse if(!strcmp(c,"hog")){size_t m=200u<<20;volatile char*p=malloc(m);if(!p)return 3;for(size_t i=0;i<m;i+=4096)p[i]=1;puts("hogged");}\nreturn 0;}\n',
    broken: 'int main(void){ return }',
  },
  cpp: {
    judge:
      '#include <iostream>\n#include <string>\n#include <stdexcept>\n#include <unistd.h>\nint main(){std::string c;long n=0;std::cin>>c;\nif(c=="double"){std::cin>>n;std::cout<<2*n<<"\\n";}\nelse if(c=="crash"){std::cout<<"before"<<std::endl;throw std::runtime_error("bad");}\nelse if(c=="spin"){volatile unsigned long i=0;for(;;)i++;}\nelse if(c=="sleep"){usleep(1500000);std::cout<<"slept\\n";}\nelse if(c=="hog"){size_t m=200u<<20;volatile char*p=new char[m];for(size_t i=0;i<m;i+=4096)p[i]=1;std::cout<<"hogged\\n";}\n}\n',
    broken: 'int main(){ return }',
  },
  go: {
    judge:
      'package main\n\nimport (\n\t"bufio"\n\t"fmt"\n\t"os"\n\t"time"\n)\n\nfunc main() {\n\tvar c string\n\tvar n int64\n\tr := bufio.NewReader(os.Stdin)\n\tfmt.Fscan(r, &c)\n\tswitch c {\n\tcase "double":\n\t\tfmt.Fscan(r, &n)\n\t\tfmt.Println(2 * n)\n\tcase "crash":\n\t\tfmt.Println("before")\n\t\tpanic("bad")\n\tcase "spin":\n\t\tfor {\n\t\t}\n\tcase "sleep":\n\t\ttime.Sleep(1500 * time.Millisecond)\n\t\tfmt.Println("slept")\n\tcase "hog":\n\t\tb := make([]byte, 200<<20)\n\t\tfor i := 0; i < len(b); i += 4096 {\n\t\t\tb[i] = 1\n\t\t}\n\t\tfmt.Println("hogged", len(b) > 0)\n\t}\n}\n',
    broken: 'package main\n\nfunc main() { x := }\n',
  },
  rust: {
    judge:
      'use std::io::Read;\nfn main() {\n    let mut s = String::new();\n    std::io::stdin().read_to_string(&mut s).unwrap();\n    let w: Vec<&str> = s.split_whitespace().collect();\n    match w[0] {\n        "double" => { let n: i64 = w[1].parse().unwrap(); println!("{}", 2 * n); }\n        "crash" => { println!("before"); panic!("bad"); }\n        "spin" => { let mut i: u64 = 0; loop { unsafe { std::ptr::write_volatile(&mut i, i + 1); } } }\n        "sleep" => { std::thread::sleep(std::time::Duration::from_millis(1500)); println!("slept"); }\n        "hog" => { let mut v = vec![0u8; 200 << 20]; let mut i = 0; while i < v.len() { unsafe { std::ptr::write_volatile(&mut v[i], 1); } i += 4096; } println!("hogged"); }\n        _ => {}\n    }\n}\n',
    broken: 'fn main() { let x = ; }\n',
  },
  java: {
    judge:
      'import java.util.*;\npublic class Main {\n  public static void main(String[] a) throws Exception {\n    Scanner s = new Scanner(System.in);\n    String c = s.next();\n    if (c.equals("double")) System.out.println(2 * s.nextLong());\n    else if (c.equals("crash")) { System.out.println("before"); System.out.flush(); throw new RuntimeException("bad"); }\n    else if (c.equals("spin")) { long i = 0; while (true) { i++; } }\n    else if (c.equals("sleep")) { Thread.sleep(1500); System.out.println("slept"); }\n    else if (c.equals("hog")) { List<byte[]> l = new ArrayList<>(); for (int k = 0; k < 200; k++) { byte[] b = new byte[1 << 20]; for (int i = 0; i < b.length; i += 4096) b[i] = 1; l.add(b); } System.out.println(l.size() == 200 ? "hogged" : ""); }\n  }\n}\n',
    broken: 'public class Main { public static void main(String[] a) { int x = ; } }\n',
  },
  typescript: {
    judge:
      "const w: string[] = require('fs').readFileSync(0, 'utf8').trim().split(/\\s+/);\nif (w[0] === 'double') console.log(2 * Number(w[1]));\nelse if (w[0] === 'crash') { process.stdout.write('before\\n'); throw new Error('bad'); }\nelse if (w[0] === 'spin') { for (;;) {} }\nelse if (w[0] === 'sleep') setTimeout(() => console.log('slept'), 1500);\nelse if (w[0] === 'hog') { const b = new Uint8Array(200 * 1024 * 1024).fill(1); console.log(b[4096] === 1 ? 'hogged' : ''); }\n",
    broken: 'const x: number = "not a number";\n',
  },
  ruby: {
    judge: "w = STDIN.read.split\ncase w[0]\nwhen 'double' then puts 2 * w[1].to_i\nwhen 'crash' then puts 'before'; STDOUT.flush; raise 'bad'\nwhen 'spin' then loop {}\nwhen 'sleep' then sleep 1.5; puts 'slept'\nwhen 'hog' then s = 'x' * (200 << 20); puts 'hogged' if s.size > 0\nend\n",
    broken: 'puts (1',
  },
  php: {
    judge:
      "<?php\nini_set('memory_limit', '-1');\n$w = preg_split('/\\s+/', trim(stream_get_contents(STDIN)));\nswitch ($w[0]) {\n  case 'double': echo 2 * intval($w[1]), \"\\n\"; break;\n  case 'crash': echo \"before\\n\"; fflush(STDOUT); throw new Exception('bad');\n  case 'spin': while (true) {}\n  case 'sleep': usleep(1500000); echo \"slept\\n\"; break;\n  case 'hog': $s = str_repeat('x', 200 << 20); echo strlen($s) > 0 ? \"hogged\\n\" : ''; break;\n}\n",
    broken: '<?php echo (1;',
  },
  perl: {
    judge:
      "my @w = split ' ', do { local $/; <STDIN> };\nif ($w[0] eq 'double') { print 2 * $w[1], \"\\n\"; }\nelsif ($w[0] eq 'crash') { $| = 1; print \"before\\n\"; die \"bad\\n\"; }\nelsif ($w[0] eq 'spin') { 1 while 1; }\nelsif ($w[0] eq 'sleep') { select(undef, undef, undef, 1.5); print \"slept\\n\"; }\nelsif ($w[0] eq 'hog') { my $s = 'x' x (200 << 20); print \"hogged\\n\" if length $s; }\n",
    broken: 'print (1;',
  },
};
