/* main.c - slotfeed command line (placeholder until the CLI lands). */
#include <stdio.h>

int main(void)
{
    fprintf(stderr, "slotfeed: not built yet\n");
    return 1;
}
