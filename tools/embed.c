/* Build tool: turns a file into a C source defining a byte array and its length, so droverd
 * carries its default configuration and descriptor set without reading files at run time.
 * Usage: embed SYMBOL INPUT OUTPUT. The array gets a NUL after the data (not counted in the
 * length), so text can be used as a C string. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: embed SYMBOL INPUT OUTPUT\n");
        return 2;
    }
    FILE *in = fopen(argv[2], "rb"), *out = fopen(argv[3], "w");
    if (!in || !out) {
        perror("embed");
        return 1;
    }
    fprintf(out, "#include <stddef.h>\nconst unsigned char %s[] = {", argv[1]);
    size_t n = 0;
    int ch;
    while ((ch = getc(in)) != EOF)
        fprintf(out, "%s%d,", n++ % 24 ? "" : "\n", ch);
    fprintf(out, "0};\nconst size_t %s_len = %zu;\n", argv[1], n);
    fclose(in);
    return fclose(out) == 0 ? 0 : 1;
}
