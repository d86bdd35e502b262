/* The main of the link checks (src/meson.build): each links one library whole with only the
 * libraries it may use, so that the link fails if any of its objects calls upward. */
int main(void)
{
    return 0;
}
