/* main.c - slotfeed-sim command line (placeholder until the CLI lands). */
#include <stdio.h>

int main(void)
{
    fprintf(stderr, "slotfeed-sim: not built yet\n");
    return 1;
}
