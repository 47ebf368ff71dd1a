"""Words too common to say what a text is about, for keyword extraction.

English, plus the most frequent words of German, French and Spanish.
"""

from __future__ import annotations

from typing import Final

_WORDS: Final = (
    "a about above after again against all almost also although always am among an and another any anybody anyone "
    "anything anyway are aren around as at away back be became because become been before being below beside best "
    "better between both but by can cannot could couldn did didn do does doesn doing don done down during each "
    "either else enough even ever every everyone everything few for from further get gets getting go goes going "
    "gonna got gotta had hadn has hasn have haven having he her here hers herself him himself his how however i if "
    "in into is isn it its itself just know last least less let lets like likely made make makes many may maybe me "
    "might mine more most much must my myself need needs never new next no nobody none nor not nothing now of off "
    "often oh ok okay on once one only or other others our ours ourselves out over own per perhaps please pretty "
    "quite rather really right same say says see seem seems shall she should shouldn since so some somebody someone "
    "something sometimes still such sure take than thank thanks that the their theirs them themselves then there "
    "these they thing things think this those though through thus till to today too took toward towards under until "
    "up upon us use used using very via want wanted wants was wasn way we well went were weren what whatever when "
    "where whether which while who whoever whole whom whose why will with within without won would wouldn yeah yes "
    "yet you your yours yourself yourselves aber als auch auf aus bei bin bis das dass dem den der des die doch ein "
    "eine einem einen einer eines er es für hat hatte ich ihr im ist kann mit nach nicht noch nur oder sehr sich "
    "sie sind so über um und uns von vor war was wenn wie wir wird zu zum zur au aux avec ce ces dans de des du "
    "elle en est et il ils je la le les leur lui mais me même mes moi mon ne nous on ou par pas pour qu que qui sa "
    "se ses son sur ta te tes toi ton tu un une vos votre vous al como con del el ella ellos en entre es esta este "
    "esto está la las le les lo los más mi muy para pero por porque que se sin su sus también te tu un una uno y ya "
)

STOPWORDS: Final[frozenset[str]] = frozenset(_WORDS.split())
