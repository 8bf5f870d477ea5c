#!/usr/bin/env python3
"""Write src/attonix/server/security/data/common-passwords.txt.

The list is what the password policy refuses outright: the passwords that top every published
breach ranking, keyboard walks, and the word + digits / word + year patterns people reach for
when a form demands "at least one number". It is generated once and committed, so the shipped
file is plain reviewable text and the server never computes it at run time.

    python3 scripts/gen-common-passwords.py
"""

from __future__ import annotations

from pathlib import Path


def _words(text: str) -> list[str]:
    """Split a whitespace-separated block; the blocks read better than list literals."""
    return text.split()


OUT = (
    Path(__file__).resolve().parent.parent / "src/attonix/server/security/data/common-passwords.txt"
)

# The perennial top of breach-derived frequency lists.
TOP = _words("""
123456 123456789 12345678 12345 1234567 1234567890 123123 111111 000000 password password1
qwerty qwerty123 qwertyuiop abc123 abcd1234 1q2w3e4r 1q2w3e4r5t 1qaz2wsx iloveyou admin
welcome monkey dragon letmein football baseball sunshine princess master shadow superman
batman trustno1 starwars passw0rd p@ssw0rd p@ssword pa$$word access hello freedom whatever
ninja mustang michael jordan23 charlie donald login azerty solo zaq12wsx zaq1zaq1 qazwsx
qwe123 asdfgh asdfghjkl zxcvbnm 654321 666666 121212 112233 123321 987654321 987654
7777777 888888 999999 555555 222222 333333 444444 11111111 00000000 123654 147258369
159753 789456123 1111 2222 0000 1212 6969 696969 121314 131313 141414 151515 101010
lovely flower hottie loveme jesus ashley bailey buster hockey soccer killer george
andrew tigger computer internet secret summer winter spring autumn hunter hunter2 ranger
harley thomas robert daniel jessica jennifer michelle nicole matthew joshua amanda
purple orange yellow silver golden diamond pepper ginger cookie cheese chocolate banana
butterfly mickey minnie snoopy pokemon naruto samsung google apple microsoft facebook
linkedin twitter myspace blink182 liverpool chelsea arsenal barcelona realmadrid
juventus maradona pelé zidane ronaldo messi beckham nirvana metallica slipknot
changeme default guest root toor administrator adminadmin admin123 admin1234 test test123
test1234 testing demo temp temp123 pass pass123 pass1234 secret123 qwerty1 qwerty12
qwerty1234 1234qwer q1w2e3r4 q1w2e3r4t5 a1b2c3d4 aa123456 aaaaaa abcdef abcdefg
abcdefgh 123abc 123qwe 1234abcd iloveyou1 iloveyou2 iloveu loveyou lovelove
princess1 sunshine1 monkey1 dragon1 shadow1 master1 football1 baseball1 superman1
letmein1 welcome1 welcome123 trustno1! password! password1! passwordpassword
password12 password123 password1234 password12345 password123456 pass@123 pass@word1
passw0rd1 p@ssw0rd1 p@ssw0rd123 changeme1 changeme123 letmein123 qazwsxedc
qazwsxedcrfv 1qazxsw2 2wsx3edc zxcvbn zxcvbnm1 asdf1234 asdfasdf qweasd qweasdzxc
qwertyu qwertyui 1qaz2wsx3edc 1q2w3e 1q2w3e4r5t6y zaq!2wsx !qaz2wsx !qaz@wsx
starwars1 mypassword mypass secretpassword topsecret nopassword letmeinnow opensesame
iloveyou! iloveyou123 ihateyou fuckyou fuckoff whatever1 computer1 internet1
michael1 charlie1 jordan michelle1 jessica1 ashley1 daniel1 jennifer1 nicole1
qwertyqwerty asdfghjkl123 qwertyuiop123 1234512345 123456123456 12341234 123123123
111222333 112233445566 0123456789 01234567 9876543210 abc12345 abcabc abc123abc
aaaaaaaaaaaa 111111111111 000000000000 123456789012 1234567890123 zxcvbnmasdfghjkl
correcthorsebatterystaple correct horse battery staple letmeinplease
""")

# Words that recur in breached passwords once digits, years or "!" are appended.
WORDS = _words("""
password passw0rd p@ssw0rd pass welcome admin login letmein qwerty iloveyou
monkey dragon master shadow sunshine princess football baseball soccer hockey
basketball superman batman spiderman starwars pokemon michael jordan charlie
summer winter spring autumn january february march april may june july august
september october november december monday friday sunday
love lovely angel angels baby babygirl honey sweet sugar cookie cheese chocolate
banana apple orange cherry peach lemon mango pepper ginger
tiger tigger lion eagle falcon dolphin panther jaguar wolf bear dog doggy puppy cat
kitty kitten horse pony bunny rabbit monkeys dragons butterfly
hello freedom whatever secret access trust computer internet google facebook samsung
london paris berlin madrid rome tokyo newyork chicago boston texas florida
california america canada mexico brazil india china russia germany france england
michelle jessica jennifer ashley amanda nicole daniel thomas robert andrew matthew
joshua david james john william richard joseph charles christopher anthony
mark steven paul kevin brian george edward peter alex alexander maria anna sarah
laura emma olivia sophia isabella mia emily hannah chloe lucas liam noah
jesus christ god heaven angel1 blessed faith hope
killer hunter ranger warrior soldier ninja pirate knight wizard legend hero
matrix zelda mario sonic minecraft fortnite roblox naruto goku
chelsea arsenal liverpool manchester barcelona juventus madrid yankees lakers
cowboys eagles steelers packers patriots raiders
rockstar music guitar piano metallica nirvana
money dollar cash gold silver diamond platinum lucky
company office server database system network security cloud datacenter attonix
changeme default guest test demo temp
""")

# The words most often followed by a year (per breach analyses), kept short so the
# word x year cross-product stays a few thousand lines.
YEAR_WORDS = _words("""
password passw0rd p@ssw0rd welcome admin login letmein qwerty iloveyou summer winter
spring autumn january december monkey dragon football baseball soccer love angel
jesus michael jordan princess sunshine shadow master secret changeme company
london berlin paris chelsea liverpool arsenal barcelona hello freedom
""")

SUFFIXES = [
    "1",
    "12",
    "123",
    "1234",
    "12345",
    "123456",
    "!",
    "1!",
    "12!",
    "123!",
    "1234!",
    "01",
    "007",
    "69",
    "99",
    "00",
    "11",
    "13",
    "21",
    "22",
    "23",
    "@123",
    "#1",
    "123456789",
]
YEARS = [str(y) for y in range(1980, 2031)]
YEAR_SUFFIXES = ["", "!"]

KEYBOARD_ROWS = ["1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm", "qwertzuiop", "azertyuiop"]
KEYBOARD_WALKS = _words("""
1qaz2wsx3edc4rfv 1qaz2wsx3edc 1qaz@wsx 1qaz!qaz zaq12wsxcde3 zaq1xsw2cde3
qazwsxedcrfvtgb qazxswedc qwaszx qweasdzxc123 qweasdzxc1 asdzxc qweqwe qwe123qwe
1q2w3e4r5t6y7u8i 1q2w3e4r5t6y7u 1q2w3e4r5 q1w2e3 q1w2e3r4t5y6 a1s2d3f4 z1x2c3v4
qwerty123456 qwerty12345 qwertyuiop1 qwertyuiop12 asdfghjkl1 asdfghjkl; zxcvbnm123
!@#$%^&* !@#$%^ !@#$%^&*() 1234!@#$ qwer1234 qwer!@#$ asdf!@#$ zxcv1234 1qaz2wsx!
poiuytrewq lkjhgfdsa mnbvcxz 0987654321 098765 ytrewq qwertyasdfgh qwertyuiopasdfghjkl
""")


def _row_walks() -> set[str]:
    """Every forward and backward run of 6+ keys along one keyboard row, and doubled rows."""
    out: set[str] = set()
    for row in KEYBOARD_ROWS:
        for start in range(len(row)):
            for end in range(start + 6, len(row) + 1):
                run = row[start:end]
                out.add(run)
                out.add(run[::-1])
        out.add(row + row)
    return out


def generate() -> list[str]:
    """Return the sorted, de-duplicated, lower-cased list."""
    entries: set[str] = set(TOP) | set(KEYBOARD_WALKS) | _row_walks()
    for word in WORDS:
        entries.add(word)
        entries.add(word + word)
        entries.update(word + suffix for suffix in SUFFIXES)
    for word in YEAR_WORDS:
        for year in YEARS:
            entries.update(word + year + tail for tail in YEAR_SUFFIXES)
    # Repeated single characters and digits, at every length a policy might allow.
    for char in "abcdefghijklmnopqrstuvwxyz0123456789":
        entries.update(char * n for n in range(6, 21))
    return sorted({entry.lower() for entry in entries if entry})


def main() -> None:
    """Write the list, one password a line."""
    entries = generate()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    header = (
        "# Passwords the Attonix password policy refuses: breach-list favourites, keyboard\n"
        "# walks, word+digits and word+year patterns. Generated by\n"
        "# scripts/gen-common-passwords.py; compared case-insensitively.\n"
    )
    OUT.write_text(header + "\n".join(entries) + "\n", encoding="utf-8")
    print(f"wrote {len(entries)} entries to {OUT}")


if __name__ == "__main__":
    main()
