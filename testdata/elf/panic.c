/* A tiny program whose only job is to give a line table: espdelta's tests
   resolve its addresses to function names and source lines. */
volatile int sink;

static int __attribute__((noinline)) divide(int a, int b) {
  return a / b;
}

int __attribute__((noinline)) compute(int n) {
  int total = 0;
  for (int i = 0; i < n; i++) {
    total += divide(n, i + 1);
  }
  return total;
}

void app_main(void) {
  sink = compute(10);
  sink = divide(sink, 0);
}
