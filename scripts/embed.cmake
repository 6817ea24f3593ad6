# Turn a file into a C array: cmake -DIN=file -DOUT=file.c -DNAME=sym -P embed.cmake
file(READ ${IN} HEX HEX)
string(LENGTH "${HEX}" HEXLEN)
math(EXPR LEN "${HEXLEN} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," BODY "${HEX}")
file(WRITE ${OUT} "#include <stddef.h>\nconst char ${NAME}[] = {${BODY} 0};\nconst size_t ${NAME}_len = ${LEN};\n")
